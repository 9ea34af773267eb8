"""The documentation site's sources: the gallery covers every figure and demo, the theory reference
has every section the code cites, its loss formulas are the code's, and the home page's quick start
runs. The built site (`mkdocs build --strict`, what `make docs` runs) is checked in a browser by
tests/test_docs_site.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gflab.figures.demos import DEMO_NAMES
from gflab.figures.registry import registry

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def gallery_gaps(index_md: str, figure_names, demo_names) -> list[str]:
    """What the gallery page lacks: for each figure its thumbnail and `gflab figures --only NAME`,
    for each demo its GIF and `gflab demo NAME`, with the image file present in docs/img/."""
    gaps = []
    for name in figure_names:
        if f"](img/{name}.png)" not in index_md or f"gflab figures --only {name}`" not in index_md:
            gaps.append(f"figure {name}: gallery entry")
        elif not (DOCS / "img" / f"{name}.png").is_file():
            gaps.append(f"figure {name}: docs/img/{name}.png")
    for name in demo_names:
        if f"](img/demo_{name}.gif)" not in index_md or f"gflab demo {name}`" not in index_md:
            gaps.append(f"demo {name}: gallery entry")
        elif not (DOCS / "img" / f"demo_{name}.gif").is_file():
            gaps.append(f"demo {name}: docs/img/demo_{name}.gif")
    return gaps


def test_gallery_shows_every_figure_and_demo():
    index_md = (DOCS / "index.md").read_text()
    figures = sorted(registry())
    assert len(figures) >= 13  # the registry itself must be populated for this check to mean much
    assert gallery_gaps(index_md, figures, DEMO_NAMES) == []
    # the check can fail: drop one entry and it is reported
    cut = index_md.replace("](img/sgf_l2.png)", "](img/missing.png)")
    assert gallery_gaps(cut, figures, DEMO_NAMES) == ["figure sgf_l2: gallery entry"]


def test_make_thumbnails_renders_every_demo():
    makefile = (ROOT / "Makefile").read_text()
    (line,) = re.findall(r"^DEMOS := (.*)$", makefile, flags=re.M)
    assert tuple(line.split()) == DEMO_NAMES


def test_theory_reference_has_every_cited_section():
    """Code and notebooks cite "docs/theory.md §2.x": each cited section must be a heading there."""
    theory = (DOCS / "theory.md").read_text()
    headings = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)[. ]", theory, flags=re.M))
    cited = set()
    for folder in ("theory", "sims", "proofs_checks", "figures", "gflab", "notebooks"):
        for path in (ROOT / folder).rglob("*.py"):
            cited |= set(re.findall(r"docs/theory\.md §(\d+(?:\.\d+)?)", path.read_text()))
    assert {"2.1", "2.2", "2.3", "2.4"} <= cited | headings
    assert cited - headings == set(), (
        f"sections cited but missing from docs/theory.md: {cited - headings}"
    )


def normalisation_table(theory_md: str) -> dict[str, str]:
    """The `--normalisation` table of docs/theory.md §2.1: name → the loss formula as written."""
    rows = re.findall(r"^\| `([a-z-]+)`(?: \(default\))? \| \$(.+?)\$", theory_md, flags=re.M)
    return dict(rows)


def evaluate_loss_formula(tex: str, residual: np.ndarray) -> float:
    """Evaluate one of the table's formulas on a residual R (zero off Ω), reading the TeX literally:
    ½ → 0.5, Σ_Ω R_ij² → the sum of squares, |Ω| → the number of observed entries, n² → R.size."""
    py = (
        tex.replace(r"\tfrac12", "0.5*")
        .replace(r"\sum_\Omega R_{ij}^2", "S")
        .replace(r"\lvert\Omega\rvert", "k")
        .replace("n^2", "N")
    )
    if not re.fullmatch(r"[0-9.*/ SkN]+", py):
        raise ValueError(f"cannot read the formula {tex!r} (read as {py!r})")
    S = float((residual**2).sum())
    k = float(np.count_nonzero(residual))
    return float(eval(py, {}, {"S": S, "k": k, "N": float(residual.size)}))


def test_theory_page_lists_every_normalisation():
    from gflab.theory.dmf import NORMALISATIONS

    assert sorted(normalisation_table((DOCS / "theory.md").read_text())) == sorted(NORMALISATIONS)


@pytest.mark.parametrize("name", ["sum", "mean", "full-mean"])
def test_theory_page_normalisation_matches_the_code(name):
    """The theory page's formula for `--normalisation NAME` is the loss the code minimises:
    normalisation_factor(name) · ½ Σ_Ω R² (theory.dmf), on a residual with |Ω| = 7 ≠ n²/2 = 12.5 so
    that the factors 1, 1/|Ω|, 2/n² all differ. Sums of the same 7 numbers: rel 1e-14."""
    from gflab.theory.dmf import normalisation_factor

    tex = normalisation_table((DOCS / "theory.md").read_text())[name]
    rng = np.random.default_rng(0)
    mask = np.zeros((5, 5))
    mask[np.unravel_index(rng.choice(25, size=7, replace=False), (5, 5))] = 1.0
    R = mask * rng.standard_normal((5, 5))
    code = normalisation_factor(name, mask) * 0.5 * float((R**2).sum())
    np.testing.assert_allclose(evaluate_loss_formula(tex, R), code, rtol=1e-14)


def test_loss_formula_reader_catches_a_wrong_page():
    """The false variant: the table as it stood (`mean` written as the authors' Σ_Ω R²/n²) fails."""
    from gflab.theory.dmf import normalisation_factor

    R = np.zeros((5, 5))
    R[0, 0], R[1, 2] = 1.0, 2.0
    wrong = evaluate_loss_formula(r"\sum_\Omega R_{ij}^2 / n^2", R)
    assert wrong != normalisation_factor("mean", (R != 0).astype(float)) * 0.5 * 5.0


def test_home_page_quick_start_runs_without_a_warning(tmp_path):
    """The site's quick start (the first Python block of docs/index.md) runs as written, outside
    the checkout, with every warning an error, and prints what its comments promise: a converged
    spectral flow whose half-arrival times are √(s_i/2) to within the init's O(γ) delay."""
    text = (DOCS / "index.md").read_text()
    block = re.search(r"## Quick start.*?```python\n(.*?)```", text, flags=re.S).group(1)
    assert len(block.strip().splitlines()) <= 12  # a quick start, not a tutorial
    script = tmp_path / "quick.py"
    script.write_text(block)
    out = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    first, second = out.stdout.strip().splitlines()
    assert first.startswith("converged")
    measured = np.array(first.split("[", 1)[1].rstrip("]").split(), dtype=float)
    predicted = np.array(second.strip("[]").split(), dtype=float)
    np.testing.assert_allclose(measured, predicted, atol=5e-3)  # the delay is O(γ) = O(1e-3)
