"""The result store under hostile files: every fixture is read as ``corrupt`` at once (no hang, no
``MemoryError``), a rerun heals it, and every other stored entry stays byte-identical.

Entries are river-valley records (NumPy only, milliseconds each). The oracle for "healed" is the
store's own verification (``read(...).state == "ok"`` and a rerun answering ``hit``) and byte
equality of every other entry's files with a snapshot taken before the damage.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from shared_cases import deadline, gflab_in_process

from gflab.sims.river import RiverConfig, stored_river
from gflab.sims.store import ResultStore
from gflab.sims.tables import results_records

CONFIGS = [RiverConfig(steps=16, seed=s) for s in range(4)]
VICTIM = CONFIGS[0]


class _Hung(BaseException):
    """A store operation ran past its deadline."""


def _deadline(seconds: int):
    """Fail (instead of hanging the suite) if the block runs past ``seconds``."""
    # not an OSError (TimeoutError is one): no `except OSError` swallows it
    return deadline(seconds, _Hung(f"store operation hung for {seconds} s"))


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` (not through links) → its bytes."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            if p.is_file() and not p.is_symlink():
                out[str(p.relative_to(root))] = p.read_bytes()
    return out


def _fifo(p: Path) -> None:
    p.unlink()
    os.mkfifo(p)


def _devzero(p: Path) -> None:
    p.unlink()
    p.symlink_to("/dev/zero")


def _sparse(p: Path) -> None:
    with open(p, "r+b") as f:
        f.truncate(10 * 2**30)  # 10 GiB, no blocks on disk


def _file_for_folder(d: Path) -> None:
    import shutil

    shutil.rmtree(d)
    d.write_bytes(b"not an entry")


def _linked_entry(d: Path, other: Path) -> None:
    import shutil

    shutil.rmtree(d)
    d.symlink_to(other)


def _file_for_shard(d: Path) -> None:
    import shutil

    shard = d.parent
    shutil.rmtree(shard)
    shard.write_bytes(b"not a shard")


DAMAGE = {
    "meta-fifo": lambda d, o: _fifo(d / "meta.json"),
    "npz-fifo": lambda d, o: _fifo(d / "data.npz"),
    "meta-devzero": lambda d, o: _devzero(d / "meta.json"),
    "npz-devzero": lambda d, o: _devzero(d / "data.npz"),
    "meta-sparse-10GiB": lambda d, o: _sparse(d / "meta.json"),
    "npz-sparse-10GiB": lambda d, o: _sparse(d / "data.npz"),
    "file-for-folder": lambda d, o: _file_for_folder(d),
    "symlinked-entry": lambda d, o: _linked_entry(d, o),
    "file-for-shard": lambda d, o: _file_for_shard(d),
}


@pytest.fixture
def store(tmp_path) -> ResultStore:
    s = ResultStore(tmp_path / "store")
    for c in CONFIGS:
        stored_river(c, s)
    assert len({s.entry_dir(s.key(c)).parent for c in CONFIGS}) == len(CONFIGS)  # own shards
    return s


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_hostile_entry_is_corrupt_then_healed_by_a_rerun(damage, store):
    victim = store.entry_dir(store.key(VICTIM))
    other = store.entry_dir(store.key(CONFIGS[1]))
    shard = victim.parent.name
    before = {k: v for k, v in _snapshot(store.root).items() if not k.startswith(shard)}
    DAMAGE[damage](victim, other)
    with _deadline(20):
        first = store.read(VICTIM).state
        rows = results_records(store)
        _, how = stored_river(VICTIM, store)  # the rerun: recomputed and published
        _, again = stored_river(VICTIM, store)
    after = {k: v for k, v in _snapshot(store.root).items() if not k.startswith(shard)}
    assert (first, how, again) == ("corrupt", "computed", "hit")
    assert store.read(VICTIM).state == "ok" and not victim.is_symlink()
    assert after == before  # every other entry byte-identical
    assert len(rows) >= len(CONFIGS) - 1  # listing the damaged store did not stop at it
    assert not [p for p in store.root.rglob(".old.*")]  # the quarantined thing is gone


def _results(argv) -> tuple[int, str, str]:
    return gflab_in_process(["results", *argv])


def test_results_on_a_file_is_refused_naming_the_store(tmp_path):
    f = tmp_path / "store"
    f.write_text("")
    code, out, err = _results(["--store", str(f)])
    assert (code, out, err.count("\n")) == (2, "", 1)
    assert err.startswith("gflab results: error: store:") and str(f) in err


def test_results_on_an_unreadable_store_is_refused_not_empty(store, monkeypatch):
    """A store that cannot be listed (permissions: emulated, the tests may run as root) exits 2
    naming it; a store that does not exist yet is empty (exit 0)."""
    real = os.scandir

    def denied(path="."):
        if Path(path) == store.root:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", denied)
    code, out, err = _results(["--store", str(store.root), "--format", "json"])
    assert (code, out) == (2, "") and "store:" in err and "Permission denied" in err
    missing = _results(["--store", str(store.root / "nothing-here")])
    assert missing == (0, "", "no stored results\n")


SWEEP = (
    'model = "dmf"\n[base]\ndepth = 2\nn = 2\nm = 3.0\nn_save = 4\n[grid]\nalpha = [0.01, 0.1]\n'
)


@pytest.mark.parametrize("damage", ["meta-fifo", "symlinked-entry", "file-for-shard"])
def test_sweep_rerun_heals_a_hostile_entry(damage, tmp_path):
    """``gflab sweep`` over a store with a hostile entry: the rerun exits 0 (it exited 1 on every
    rerun, or hung on the pipe), recomputes that entry only and leaves the other byte-identical."""
    import json

    from gflab.sims.config import DMFConfig

    spec = tmp_path / "spec.toml"
    spec.write_text(SWEEP)
    root = tmp_path / "store"
    argv = [str(spec), "--store", str(root), "--json"]
    code, out, _ = _sweep(argv)
    assert code == 0
    s = ResultStore(root)
    victim, other = (DMFConfig(depth=2, n=2, m=3.0, n_save=4, alpha=a) for a in (0.01, 0.1))
    keep = s.entry_dir(s.key(other))
    assert keep.parent != s.entry_dir(s.key(victim)).parent  # two shards: "file-for-shard" hits one
    before = _snapshot(keep)
    DAMAGE[damage](s.entry_dir(s.key(victim)), keep)
    with _deadline(60):
        code, out, err = _sweep(argv)
    doc = json.loads(out)
    assert (code, doc["done"], doc["skipped"], doc["failed"]) == (0, 1, 1, 0), err
    assert s.read(victim).state == "ok" and _snapshot(keep) == before


def _sweep(argv) -> tuple[int, str, str]:
    return gflab_in_process(["sweep", *argv])
