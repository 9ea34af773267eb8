"""`gflab results` and sims.tables.results_records / results_frame on a store filled by real simulations."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest
from shared_cases import gflab_process

from gflab import sims
from gflab.sims import DMFConfig, LoRAConfig, simulate_dmf, simulate_lora
from gflab.sims.models import MODELS
from gflab.sims.store import ResultStore
from gflab.sims.tables import results_frame, results_records
from gflab.theory import GflabInputError

ROOT = Path(__file__).resolve().parents[1]

# depth 2, mimic(α, m), diagonal Ω, target J (docs/theory.md §2.1): the limit is
# w*[(1−ρ)I + ρJ] with ρ = (n + 2m − 2)/(n + m² − 1), whose stable rank is
# 1 + (n−1)(1−ρ)²/(1+(n−1)ρ)²; n = 4, m = 3 gives ρ = 2/3 and sr = 28/27.
N, M = 4, 3.0
RHO = (N + 2 * M - 2) / (N + M**2 - 1)
SR_DMF = 1 + (N - 1) * (1 - RHO) ** 2 / (1 + (N - 1) * RHO) ** 2
# SpecGF to the global minimum (docs/theory.md §2.2): AB → Y, singular values (1, 4), sr = 17/16
SVALS = (1.0, 4.0)
SR_LORA = sum(s * s for s in SVALS) / max(SVALS) ** 2

DMF = DMFConfig(depth=2, n=N, init="mimic", m=M, alpha=1e-2, mask="diagonal", target="ones")
LORA = LoRAConfig(
    rows=6, cols=7, rank=2, target_svals=SVALS, flow="specgf", beta=1e-6, gamma=1e-3, t1=4.0
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    st = ResultStore(root)
    results = {"dmf": st.get_or_run(DMF, simulate_dmf), "lora": st.get_or_run(LORA, simulate_lora)}
    return root, st, results


def _gflab(*args: str) -> subprocess.CompletedProcess:
    return gflab_process("results", *args)


@pytest.mark.parametrize(("model", "cfg"), [("dmf", DMF), ("lora", LORA)])
def test_row_is_the_stored_run(store, model, cfg):
    root, st, results = store
    (row,) = [r for r in results_records(root) if r["model"] == model]
    res = results[model]
    assert row["key"] == st.key(cfg)
    assert row["status"] == res.status == "converged"
    # the stored sidecar round-trips floats exactly through JSON: equality, not a tolerance
    names = ("loss", "stable_rank", "effective_rank", "time")
    assert {n: row[n] for n in names} == {n: float(res.final[n]) for n in names}
    assert row["solver_steps"] == res.stats["steps"]


def test_rows_match_the_closed_forms(store):
    root, _, _ = store
    rows = {r["model"]: r for r in results_records(root)}
    assert set(rows) == {"dmf", "lora"}
    assert rows["dmf"]["depth"] == 2 and rows["dmf"]["mask"] == "diagonal"
    assert rows["lora"]["target_svals"] == "1,4"
    # the flows ran to loss ≤ 1e-16 (DMF) / 1e-14 (LoRA): the limit's stable rank is within
    # ~1e-7 of the closed form; 1e-6 leaves a decade for the stopping error
    assert rows["dmf"]["stable_rank"] == pytest.approx(SR_DMF, abs=1e-6)
    assert rows["lora"]["stable_rank"] == pytest.approx(SR_LORA, abs=1e-6)


def test_model_filter_and_bad_model(store):
    root, _, _ = store
    assert [r["model"] for r in results_records(root, model="lora")] == ["lora"]
    assert [r["model"] for r in results_records(root, model="dmf")] == ["dmf"]
    allowed = ", ".join(MODELS)  # every registered model
    with pytest.raises(GflabInputError, match=f"model: expected one of {allowed}, got 'mlp'"):
        results_records(root, model="mlp")


def test_stale_and_corrupt_entries_are_listed_as_such(store, tmp_path):
    root, st, _ = store
    other = ResultStore(tmp_path, versions={"gflab": "0.0.0"})  # another installation's entry
    other.put(DMF, st.get(DMF))
    (stale,) = results_records(tmp_path)
    assert stale["status"] == "stale" and stale["stable_rank"] == pytest.approx(SR_DMF, abs=1e-6)
    # truncate a copy's arrays: the npz checksum in the sidecar no longer matches
    bad = ResultStore(tmp_path / "bad")
    key = bad.put(LORA, st.get(LORA))
    npz, _ = bad.paths(key)
    npz.write_bytes(npz.read_bytes()[:100])
    (row,) = results_records(bad)
    assert row["status"] == "corrupt" and row["model"] == "lora"


def test_results_frame(store):
    import pandas as pd  # pinned in requirements/test.lock

    root, st, _ = store
    df = results_frame(root)
    assert isinstance(df, pd.DataFrame)
    assert sorted(df.index) == sorted([st.key(DMF), st.key(LORA)])
    assert df.loc[st.key(DMF), "stable_rank"] == pytest.approx(SR_DMF, abs=1e-6)
    assert df.loc[st.key(LORA), "flow"] == "specgf"
    assert pd.isna(df.loc[st.key(LORA), "depth"])  # a field LoRA configs do not have
    assert list(results_frame(root, model="dmf").index) == [st.key(DMF)]


def test_cli_formats(store):
    root, st, _ = store
    records = results_records(root)
    out = _gflab("--store", str(root), "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == records
    out = _gflab("--store", str(root), "--format", "csv", "--model", "dmf")
    assert out.returncode == 0, out.stderr
    (row,) = list(csv.DictReader(io.StringIO(out.stdout)))
    assert row["key"] == st.key(DMF) and float(row["stable_rank"]) == pytest.approx(SR_DMF, 1e-5)
    out = _gflab("--store", str(root))
    assert out.returncode == 0, out.stderr
    assert "dmf (1)" in out.stdout and "lora (1)" in out.stdout
    assert st.key(DMF)[:12] in out.stdout and st.key(LORA)[:12] in out.stdout
    assert f"{SR_DMF:.6g}" in out.stdout
    reprs = [t for t in (out.stdout, out.stderr) if "np." in t or "array(" in t]
    assert reprs == []  # no NumPy reprs


def test_cli_bad_input_is_one_line(tmp_path):
    out = _gflab("--model", "mlp")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "--model" in out.stderr
    f = tmp_path / "file"
    f.write_text("x")
    out = _gflab("--store", str(f))
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        == f"gflab results: error: store: expected a result-store folder, got '{f}'"
    )
    out = _gflab("--store", str(tmp_path / "empty"))
    assert out.returncode == 0 and out.stdout == "" and "no stored results" in out.stderr


@pytest.mark.parametrize(
    ("name", "fn"), [("results_frame", results_frame), ("results_records", results_records)]
)
def test_top_level_aliases_are_the_tables_functions_with_a_warning(name, fn):
    """sims.results_frame / sims.results_records (the first spellings) stay as aliases."""
    with pytest.warns(DeprecationWarning, match=f"gflab.sims.tables.{name}"):
        assert getattr(sims, name) is fn
    assert name not in sims.__all__
    with pytest.raises(AttributeError):
        sims.results_table  # noqa: B018  (not a name sims ever had)
