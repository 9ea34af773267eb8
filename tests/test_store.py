"""Result store: round trip, atomic writes, corruption detection, keys (no solver runs needed)."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from gflab import sims
from gflab.sims import DMFConfig, LoRAConfig, SimResult
from gflab.sims.store import ResultStore, default_store_root, source_hash
from gflab.theory.errors import GflabInputError

VERSIONS = {"gflab": "0.1.0", "jax": "x", "diffrax": "y"}


def _result(cfg, scale=1.0) -> SimResult:
    rng = np.random.default_rng(0)
    W = scale * rng.standard_normal((3, 3))
    return SimResult(
        config=cfg.to_dict(),
        times=np.linspace(0.0, 1.0, 5),
        series={
            "singular_values": scale * rng.random((5, 3)),
            "loss": np.array([1.0, 0.5, 0.2, 0.1, np.inf]),
        },
        final={
            "matrix": W,
            "singular_values": np.linalg.svd(W, compute_uv=False),
            "stable_rank": 1.7,
            "loss": 0.1,
            "time": 1.0,
        },
        status="t1_reached",
        stats={"solver": "tsit5+pid", "steps": 12, "wall_seconds": 0.01},
        final_state=[W, 2 * W],
        message="",
        time_unit="t",
        extra={"note": "x"},
    )


class Counter:
    def __init__(self, scale=1.0):
        self.calls = 0
        self.scale = scale

    def __call__(self, cfg):
        self.calls += 1
        return _result(cfg, self.scale)


CFG = DMFConfig(depth=3, n=3, m=3.0, alpha=1e-2, t1=1.0)


def test_round_trip(tmp_path):
    store = ResultStore(tmp_path, versions=VERSIONS)
    assert store.status(CFG) == "missing" and store.get(CFG) is None
    res = _result(CFG)
    key = store.put(CFG, res)
    assert store.status(CFG) == "ok" and store.keys() == [key]
    back = store.get(CFG)
    np.testing.assert_array_equal(back.times, res.times)
    np.testing.assert_equal(dict(back.series), dict(res.series))  # same keys, arrays exactly
    np.testing.assert_array_equal(back.final["matrix"], res.final["matrix"])
    assert back.final["stable_rank"] == res.final["stable_rank"]
    assert [
        np.array_equal(a, b) for a, b in zip(back.final_state, res.final_state, strict=True)
    ] == [True, True]
    assert back.config == res.config and back.status == res.status and back.extra == res.extra
    # the JSON contract is the same before and after storing
    assert back.to_json() == res.to_json()
    side = json.loads(store.paths(key)[1].read_text())
    assert side["versions"] == VERSIONS and side["config"] == CFG.to_dict() and side["seed"] == 0
    assert {"git_revision", "created", "npz_sha256", "key"} <= set(side)


def test_get_or_run_caches(tmp_path):
    store = ResultStore(tmp_path, versions=VERSIONS)
    run = Counter()
    a = store.get_or_run(CFG, run)
    b = store.get_or_run(CFG, run)
    assert run.calls == 1 and (store.hits, store.misses) == (1, 1)
    np.testing.assert_array_equal(a.final["matrix"], b.final["matrix"])


def test_crash_before_publish_leaves_no_visible_entry(tmp_path, monkeypatch):
    """A crash before the entry folder is renamed into place leaves no entry and no temporary
    folder: `get` returns None and `get_or_run` computes."""
    store = ResultStore(tmp_path, versions=VERSIONS)
    real_rename = os.rename

    def crash(src, dst):
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(OSError, match="simulated crash"):
        store.put(CFG, _result(CFG))
    monkeypatch.setattr(os, "rename", real_rename)
    assert store.get(CFG) is None and store.status(CFG) == "missing"
    shard = store.entry_dir(store.key(CFG)).parent
    assert list(shard.iterdir()) == []  # no temporary left over
    run = Counter()
    store.get_or_run(CFG, run)
    assert run.calls == 1 and store.status(CFG) == "ok"


def test_crash_while_overwriting_keeps_the_old_entry(tmp_path, monkeypatch):
    """Replacing an entry whose new folder never lands keeps the old, complete entry."""
    store = ResultStore(tmp_path, versions=VERSIONS)
    store.put(CFG, _result(CFG))
    real_rename = os.rename

    def crash_on_publish(src, dst):
        if Path(src).name.startswith(".tmp."):
            raise OSError(errno.EIO, "simulated crash")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", crash_on_publish)
    with pytest.raises(OSError):
        store.put(CFG, _result(CFG, scale=2.0))
    monkeypatch.setattr(os, "rename", real_rename)
    np.testing.assert_array_equal(store.get(CFG).final["matrix"], _result(CFG).final["matrix"])
    assert [p.name for p in store.entry_dir(store.key(CFG)).parent.iterdir()] == [store.key(CFG)]


def _corrupt(path, how):
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flip":
        b = bytearray(data)
        b[len(b) // 2] ^= 0xFF
        path.write_bytes(bytes(b))
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "delete":
        path.unlink()
    elif how == "not-a-dict":
        path.write_text("[1, 2, 3]")
    elif how == "no-header":
        meta = json.loads(data)
        del meta["result"]
        path.write_text(json.dumps(meta))
    elif how == "no-checksum":  # an edited value with the self-checksum removed
        meta = json.loads(data)
        meta["result"]["final"]["stable_rank"] = 42
        del meta["sidecar_sha256"]
        path.write_text(json.dumps(meta))
    elif how == "only-npz-sha":
        path.write_text(json.dumps({"npz_sha256": json.loads(data)["npz_sha256"]}))
    elif how == "bad-header":
        meta = json.loads(data)
        meta["result"] = {"config": {}}
        path.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("which", "how"),
    [
        ("npz", "truncate"),
        ("npz", "flip"),
        ("npz", "empty"),
        ("npz", "delete"),
        ("json", "truncate"),
        ("json", "empty"),
        ("json", "delete"),
        ("json", "not-a-dict"),
        ("json", "no-header"),
        ("json", "bad-header"),
        ("json", "no-checksum"),
        ("json", "only-npz-sha"),
    ],
)
def test_corruption_is_detected_and_recomputed(tmp_path, which, how):
    store = ResultStore(tmp_path, versions=VERSIONS)
    key = store.put(CFG, _result(CFG))
    npz, side = store.paths(key)
    _corrupt(npz if which == "npz" else side, how)
    assert store.status(CFG) == "corrupt"
    assert store.get(CFG) is None
    run = Counter(scale=3.0)
    res = store.get_or_run(CFG, run)
    assert run.calls == 1 and store.recomputed_corrupt == 1
    np.testing.assert_array_equal(res.final["matrix"], _result(CFG, 3.0).final["matrix"])
    assert store.status(CFG) == "ok"
    np.testing.assert_array_equal(store.get(CFG).final["matrix"], res.final["matrix"])


def test_keys_change_with_config_and_versions(tmp_path):
    store = ResultStore(tmp_path, versions=VERSIONS)
    k = store.key(CFG)
    assert store.key(CFG.replace(alpha=2e-2)) != k
    assert store.key(CFG.replace(seed=1)) != k
    assert store.key(CFG.replace(rtol=1e-10)) != k
    assert store.key(LoRAConfig(t1=1.0, beta=1e-6)) != k
    assert ResultStore(tmp_path, versions={**VERSIONS, "jax": "z"}).key(CFG) != k
    # equal configs give equal keys however their numbers were typed
    assert store.key(DMFConfig(depth=3, n=3, m=3, alpha=1e-2, t1=1)) == k
    assert store.key(DMFConfig(depth=3, n=3, m=np.float64(3.0), alpha=1e-2, t1=1.0)) == k
    assert store.key(CFG) == k  # stable
    assert DMFConfig(depth=2, n=2, m=math.inf).to_dict()["m"] == "inf"


# ----------------------------------------------------------------------------- issue 13.5 / 10.4


def test_key_knows_the_code(tmp_path, monkeypatch):
    """An entry computed by other code is never served: the key covers theory/ and sims/."""
    store = ResultStore(tmp_path, versions=VERSIONS)
    store.put(CFG, _result(CFG))
    assert store.status(CFG) == "ok" and store.code == sims.store.code_hash()
    side = json.loads(store.paths(store.key(CFG))[1].read_text())
    assert side["code"] == store.code and side["git_revision"]  # the revision is kept too
    monkeypatch.setattr(sims.store, "code_hash", lambda: "0" * 64)  # "the code was edited"
    edited = ResultStore(tmp_path, versions=VERSIONS)
    assert edited.key(CFG) != store.key(CFG)
    assert edited.status(CFG) == "missing" and edited.get(CFG) is None
    run = Counter(scale=5.0)
    edited.get_or_run(CFG, run)
    assert run.calls == 1  # recomputed, not served


def _copy_tree(tmp_path):
    root = Path(sims.store.__file__).resolve().parent.parent
    for d in ("theory", "sims"):
        shutil.copytree(root / d, tmp_path / d, ignore=shutil.ignore_patterns("__pycache__"))
    return [tmp_path / "theory", tmp_path / "sims"]


def _hash(dirs):
    return source_hash(dirs, exclude=("sims/bridge",))


def test_editing_gradient_field_in_a_copy_changes_the_code_hash(tmp_path):
    """The oracle is an edit of a copy of the source tree: an identical copy elsewhere hashes the
    same (relative paths); one changed statement in masked_loss gives another hash and key."""
    dirs = _copy_tree(tmp_path)
    assert _hash(dirs) == sims.store.code_hash()
    dmf = tmp_path / "theory" / "dmf.py"
    text = dmf.read_text()
    assert "return 0.5 * xp.sum(R * R)" in text
    dmf.write_text(text.replace("return 0.5 * xp.sum(R * R)", "return 0.25 * xp.sum(R * R)", 1))
    assert _hash(dirs) != sims.store.code_hash()
    assert ResultStore(tmp_path, code=_hash(dirs)).key(CFG) != ResultStore(tmp_path).key(CFG)


@pytest.mark.parametrize(
    "path, old, new",
    [
        ("theory/dmf.py", "def gradient_field", "# a comment\ndef gradient_field"),
        ("theory/dmf.py", '"""ℓ = ½ Σ_{(i,j)∈Ω} (W_ij − W*_ij)².', '"""The loss ℓ = ½ Σ (edited).'),
        ("theory/dmf.py", "def gradient_field", "def gradient_field  "),
        ("sims/bridge/probes.py", "def ", "# a comment in the bridge\ndef "),
        ("sims/bridge/probes.py", "def ", "def _not_a_dmf_dependency():\n    return 1\n\n\ndef "),
    ],
    ids=["comment", "docstring", "layout", "bridge-comment", "bridge-code"],
)
def test_what_does_not_run_a_dmf_flow_leaves_its_key(tmp_path, path, old, new):
    """Comments, docstrings and layout are not code; the bridge is not what a DMF flow runs (its
    own runs carry bridge_code_hash): none of these edits changes a DMF flow's key."""
    dirs = _copy_tree(tmp_path)
    f = tmp_path / path
    text = f.read_text()
    assert old in text
    f.write_text(text.replace(old, new, 1))
    assert _hash(dirs) == sims.store.code_hash()


def test_a_bridge_edit_changes_bridge_run_keys(tmp_path):
    """What the bridge adds to its runs' keys (sims/bridge/record.py) follows its code."""
    dirs = _copy_tree(tmp_path)
    bridge = tmp_path / "sims" / "bridge"
    before = source_hash([bridge])
    assert before == sims.store.bridge_code_hash()
    probes = bridge / "probes.py"
    probes.write_text(
        probes.read_text().replace("def ", "def _extra():\n    return 2\n\n\ndef ", 1)
    )
    assert source_hash([bridge]) != before
    assert _hash(dirs) == sims.store.code_hash()


def test_editing_a_runner_changes_its_record_keys(tmp_path, monkeypatch):
    """A figure's record key carries the code of its runner's module and what it imports: a
    changed body gives a new key, a comment does not (figures/registry.py _record_key)."""
    import importlib

    mod = tmp_path / "gflab_test_runner_mod.py"
    mod.write_text("from gflab.theory import measures\n\n\ndef run(x):\n    return {'y': x}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    key = sims.store.module_code_hash

    def fresh(text):
        mod.write_text(text)
        key.cache_clear()
        return key("gflab_test_runner_mod:run")

    first = fresh(mod.read_text())
    assert fresh(mod.read_text().replace("def run", "# why\ndef run")) == first
    assert fresh(mod.read_text().replace("return {'y': x}", "return {'y': 2 * x}")) != first
    key.cache_clear()


@pytest.mark.parametrize("how", ["copy", "symlink"])
def test_entry_of_another_config_is_not_served(tmp_path, how):
    store = ResultStore(tmp_path, versions=VERSIONS)
    other = CFG.replace(alpha=2e-2)
    store.put(other, _result(other, scale=7.0))
    src, dst = store.entry_dir(store.key(other)), store.entry_dir(store.key(CFG))
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, dst) if how == "copy" else dst.symlink_to(src, target_is_directory=True)
    assert store.status(CFG) == "corrupt" and store.get(CFG) is None
    assert store.status(other) == "ok"


def test_only_npz_sha_sidecar_is_recomputed_by_a_sweep(tmp_path):
    """The sidecar `{"npz_sha256": ...}` alone raised KeyError on every rerun (issue 13.5)."""
    from gflab.sims.sweep import run_sweep

    cfg = DMFConfig(depth=2, n=2, m=3.0, alpha=1e-2, n_save=4)
    store = ResultStore(tmp_path)
    run_sweep([cfg], store)
    side = store.paths(store.key(cfg))[1]
    side.write_text(json.dumps({"npz_sha256": json.loads(side.read_text())["npz_sha256"]}))
    s = run_sweep([cfg], store)
    assert (s.done, s.failed, s.recomputed_corrupt) == (1, 0, 1) and store.status(cfg) == "ok"


def test_concurrent_writers_readers_see_complete_entries_or_none(tmp_path):
    """Two threads rewrite one key 30 times each (two different results) while a reader reads:
    every read is a complete entry (one of the two) or none, never corrupt."""
    store = ResultStore(tmp_path, versions=VERSIONS)
    results = {1.0: _result(CFG, 1.0), 2.0: _result(CFG, 2.0)}
    stop = threading.Event()
    seen = []

    def write(scale):
        for _ in range(30):
            ResultStore(tmp_path, versions=VERSIONS).put(CFG, results[scale])

    def read():
        while not stop.is_set():
            e = store.read(CFG)
            seen.append(e.state if e.state != "ok" else float(e.arrays["final__matrix"][0, 0]))

    writers = [threading.Thread(target=write, args=(s,)) for s in results]
    reader = threading.Thread(target=read)
    reader.start()
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    reader.join()
    firsts = {float(r.final["matrix"][0, 0]) for r in results.values()}
    assert "corrupt" not in seen
    assert set(seen) - {"missing"} <= firsts and len(seen) > 0
    assert store.status(CFG) == "ok"
    assert [p.name for p in store.entry_dir(store.key(CFG)).parent.iterdir()] == [store.key(CFG)]


def test_orphans_of_a_killed_writer_are_cleaned(tmp_path):
    """A real writer process SIGKILLed between its two files leaves a temporary folder and no
    entry; `clean_orphans` removes exactly it (its process is gone)."""
    root = Path(sims.store.__file__).resolve().parent.parent
    code = (
        "import os, signal, numpy as np, sims.store as s\n"
        "real = s._fsync_write\n"
        "def w(p, d):\n"
        "    real(p, d); os.kill(os.getpid(), signal.SIGKILL)\n"
        "s._fsync_write = w\n"
        f"s.ResultStore({str(tmp_path)!r}).put_record({{'a': 1}}, {{'x': np.zeros(10**5)}}, {{}})\n"
    )
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    store = ResultStore(tmp_path)
    orphans = [p for p in tmp_path.glob("*/.tmp.*")]
    assert len(orphans) == 1 and store.status({"a": 1}) == "missing"
    live = tmp_path / "ab" / f".tmp.{sims.store._host()}.{os.getpid()}.x"  # a live writer: kept
    live.mkdir(parents=True)
    count, nbytes = store.clean_orphans()
    assert count == 1 and nbytes >= 8 * 10**5 and not orphans[0].exists() and live.exists()


def test_empty_gflab_store_is_the_default(monkeypatch):
    monkeypatch.setenv("GFLAB_STORE", "")
    assert default_store_root() == Path(".gflab-cache/results")
    monkeypatch.setenv("GFLAB_STORE", "/x/y")
    assert default_store_root() == Path("/x/y")


def test_unwritable_store_is_refused(tmp_path, monkeypatch):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(GflabInputError, match="store"):
        ResultStore(f).require_writable()

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(sims.store.tempfile, "mkstemp", denied)  # chmod 555 (we may be root)
    with pytest.raises(GflabInputError, match="Permission denied"):
        ResultStore(tmp_path / "s").require_writable()


def test_iter_entries_yields_verified_entries_only(tmp_path):
    store = ResultStore(tmp_path, versions=VERSIONS)
    k0 = store.put(CFG, _result(CFG))
    k1 = store.put(CFG.replace(alpha=0.5), _result(CFG))
    store.paths(k1)[0].write_bytes(b"broken")
    assert [e.key for e in store.iter_entries()] == [k0] and sorted(store.keys()) == sorted(
        [k0, k1]
    )
