"""What several test modules share: a fresh `gflab` process, `gflab` in this process, the first example a claim's strategy draws, a claim made up for the runner's tests, a deadline on a block, and the 10×12,
rank-3 LoRA problem (targets 0.5, 2, 8; Gaussian init γ = 0.1, seed 3) that
tests/test_external_oracles.py and tests/test_sgf_methods.py check against independent NumPy."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings

from gflab.sims.config import LoRAConfig
from gflab.sims.lora import lora_problem

ROOT = Path(__file__).resolve().parents[1]


def gflab_process(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m gflab ARGS`` in a fresh process, from the checkout (its root on PYTHONPATH)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "gflab", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


def gflab_in_process(argv: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``gflab ARGV`` run in this process (``SystemExit`` caught).

    Args:
        argv: the command line after ``gflab``.

    Returns:
        The exit code (``main``'s return value, or the code ``SystemExit`` carried) and the text
        written to stdout and stderr.
    """
    import contextlib
    import io

    from gflab.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


def assert_arrays_close(got, want, **tolerance) -> None:
    """Two sequences of arrays (factors, parameter lists) equal in shapes and close entry by entry,
    as one ``np.testing.assert_allclose`` (as optax's ``assert_trees_all_close``).

    Args:
        got: the arrays computed.
        want: the oracle's arrays, in the same order.
        **tolerance: ``rtol``/``atol`` of ``np.testing.assert_allclose``.
    """
    import numpy as np

    got, want = [np.asarray(g) for g in got], [np.asarray(w) for w in want]
    assert [g.shape for g in got] == [w.shape for w in want]
    flat = [np.concatenate([a.ravel() for a in arrays]) for arrays in (got, want)]
    np.testing.assert_allclose(*flat, **tolerance)


def relative_errors(got, want):
    """‖g − w‖/‖w‖ (Frobenius) of each pair of arrays, as one NumPy array.

    Args:
        got: the arrays computed (factors of a run).
        want: the oracle's arrays, in the same order.

    Returns:
        The relative errors, one per pair.
    """
    import numpy as np

    pairs = zip(got, want, strict=True)
    return np.array([np.linalg.norm(g - w) / np.linalg.norm(w) for g, w in pairs])


def lora_config(**changes) -> LoRAConfig:
    """The shared problem's config with ``changes`` to its fields.

    Args:
        **changes: fields of :class:`~gflab.sims.config.LoRAConfig` to set.

    Returns:
        The config.
    """
    base = dict(
        rows=10,
        cols=12,
        rank=3,
        target_svals=(0.5, 2.0, 8.0),
        flow="specgf",
        gamma=0.1,
        init="gaussian",
        seed=3,
    )
    return LoRAConfig(**{**base, **changes})


def lora_case(**changes):
    """(config, (A0, B0, Y, U, V)) of the shared problem with ``changes`` to its fields."""
    cfg = lora_config(**changes)
    return cfg, lora_problem(cfg)


def first_example(strategy):
    """The first example hypothesis draws from ``strategy`` (derandomised, as the ci profile)."""
    seen = []

    @settings(
        max_examples=1,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def draw(ex):
        seen.append(ex)

    draw()
    return seen[0]


def toy_claim(strategy, check, *, examples: int | None = None, **fields):
    """A :class:`~gflab.proofs_checks.registry.Claim` made up for a test of the runner.

    Args:
        strategy: makes the hypothesis strategy.
        check: example → :class:`~gflab.proofs_checks.registry.Evidence`.
        examples: examples drawn under every profile (``None``: the registry's default).
        **fields: other fields of the claim; ``id``, ``paper``, ``statement`` and ``hypotheses``
            are placeholders unless given.

    Returns:
        The claim (not registered).
    """
    from gflab.proofs_checks.registry import Claim

    if examples is not None:
        fields["examples"] = dict.fromkeys(("ci", "dev", "thorough"), examples)
    text = dict(id="TEST-1", paper="test", statement="s", hypotheses="h")
    return Claim(**{**text, **fields}, strategy=strategy, check=check)


@contextlib.contextmanager
def deadline(seconds: int, error: BaseException):
    """Raise ``error`` in the block once it has run ``seconds`` (a hang detector: SIGALRM, so the
    main thread only; the previous handler is restored).

    Args:
        seconds: the time allowed, whole seconds.
        error: what to raise; not an ``OSError`` (TimeoutError is one) if the block catches those.
    """

    def _raise(*_):
        raise error

    old = signal.signal(signal.SIGALRM, _raise)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
