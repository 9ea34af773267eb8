"""A generated text-classification task with a learnable label rule, and its tokenisers.

Sentences read "<det> <noun> <verb> [not] <adjective> <filler>", e.g. "the cat is not happy
today". Label 1 iff the adjective is positive XOR the sentence is negated: a rule that needs the
adjective and the negation together (attention), not one keyword. Everything is drawn from an
explicit seed; nothing is downloaded.
"""

from __future__ import annotations

import numpy as np

__all__ = ["make_sentences", "TinyVocabulary", "VOCABULARY_WORDS"]

DETERMINERS = ("the", "a", "this", "that", "my", "your")
NOUNS = (
    "cat",
    "dog",
    "house",
    "movie",
    "song",
    "book",
    "garden",
    "city",
    "teacher",
    "river",
    "meal",
    "game",
)
VERBS = ("is", "was", "seems", "looks", "felt", "became")
POSITIVE = ("good", "great", "happy", "bright", "kind", "calm", "lovely", "pleasant")
NEGATIVE = ("bad", "awful", "sad", "dark", "cruel", "angry", "dull", "boring")
FILLERS = ("today", "again", "indeed", "now", "lately", "overall", "really", "here")
VOCABULARY_WORDS = DETERMINERS + NOUNS + VERBS + ("not",) + POSITIVE + NEGATIVE + FILLERS


def make_sentences(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """``n`` sentences and their labels (int64, 0/1, balanced in expectation).

    Args:
        n: how many sentences.
        seed: the seed of every draw.

    Returns:
        (sentences, labels).
    """
    rng = np.random.default_rng(seed)
    sentences, labels = [], []
    for _ in range(n):
        positive = bool(rng.integers(2))
        negated = bool(rng.integers(2))
        adj = rng.choice(POSITIVE if positive else NEGATIVE)
        words = [rng.choice(DETERMINERS), rng.choice(NOUNS), rng.choice(VERBS)]
        if negated:
            words.append("not")
        words += [adj, rng.choice(FILLERS)]
        sentences.append(" ".join(str(w) for w in words))
        labels.append(int(positive != negated))
    return sentences, np.asarray(labels, dtype=np.int64)


class TinyVocabulary:
    """Word-level tokeniser for the tiny model: [PAD]=0, [CLS]=1, [SEP]=2, [UNK]=3, then words."""

    SPECIALS = ("[PAD]", "[CLS]", "[SEP]", "[UNK]")

    def __init__(self, words: tuple[str, ...] = VOCABULARY_WORDS):
        self.tokens = self.SPECIALS + tuple(words)
        self.index = {w: i for i, w in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def __call__(self, sentences: list[str], max_length: int) -> dict[str, np.ndarray]:
        ids = np.zeros((len(sentences), max_length), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, s in enumerate(sentences):
            toks = [1] + [self.index.get(w, 3) for w in s.split()][: max_length - 2] + [2]
            ids[row, : len(toks)] = toks
            mask[row, : len(toks)] = 1
        return {"input_ids": ids, "attention_mask": mask}
