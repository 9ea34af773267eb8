"""Result store: round trip, atomic writes, corruption detection, keys (no solver runs needed)."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from sims import DMFConfig, LoRAConfig, SimResult
from sims.store import ResultStore

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
    for k in res.series:
        np.testing.assert_array_equal(back.series[k], res.series[k])
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


def test_crash_before_sidecar_leaves_no_visible_entry(tmp_path, monkeypatch):
    """A crash between the npz and the sidecar (os.replace of the sidecar raising) leaves no entry:
    `get` returns None, no temporary file is left behind, and `get_or_run` recomputes."""
    store = ResultStore(tmp_path, versions=VERSIONS)
    real_replace = os.replace

    def crash_on_sidecar(src, dst):
        if str(dst).endswith(".json"):
            raise OSError("simulated crash")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_sidecar)
    with pytest.raises(OSError, match="simulated crash"):
        store.put(CFG, _result(CFG))
    monkeypatch.setattr(os, "replace", real_replace)
    assert store.get(CFG) is None and store.status(CFG) == "corrupt"
    npz, side = store.paths(store.key(CFG))
    assert not side.exists()
    assert [p.name for p in npz.parent.iterdir()] == [npz.name]  # no temporary left over
    run = Counter()
    store.get_or_run(CFG, run)
    assert run.calls == 1 and store.recomputed_corrupt == 1 and store.status(CFG) == "ok"


def test_crash_while_overwriting_keeps_old_entry_unreadable_not_wrong(tmp_path, monkeypatch):
    """Overwriting an entry whose new sidecar never lands must not pair new arrays with the old
    sidecar: the checksum catches the mismatch."""
    store = ResultStore(tmp_path, versions=VERSIONS)
    store.put(CFG, _result(CFG))
    real_replace = os.replace
    monkeypatch.setattr(
        os,
        "replace",
        lambda s, d: (
            (_ for _ in ()).throw(OSError("crash"))
            if str(d).endswith(".json")
            else real_replace(s, d)
        ),
    )
    with pytest.raises(OSError):
        store.put(CFG, _result(CFG, scale=2.0))
    monkeypatch.setattr(os, "replace", real_replace)
    assert store.get(CFG) is None and store.status(CFG) == "corrupt"


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
