"""``gflab bridge analyze`` against the live probe, the live recorders (plain-loop hook, HF Trainer
callback), bad inputs, and the consistent loss / reading rule of ``gflab bridge lora``.

The runs come from examples/bridge_own_run.py (a tiny peft BERT on the CPU), so the documented
example is exercised too.

Tolerances: the saved adapters hold the very float32 tensors the live probe measured
(safetensors and torch.save store them bit for bit) and both sides run the one function
``gflab.sims.bridge.probes.lora_spectra`` (a per-matrix LAPACK QR/SVD, whatever the batch), so the
spectra agree exactly in practice (measured: 0.0); the comparisons allow rtol 1e-12 (~4500 ulps of
float64) for a different batched kernel path, while a wrong scale s, a transposed factor or an
off-by-one step moves them by O(1). The independent oracle (a dense float64 SVD of s·B A by NumPy)
is a different factorisation of the product, accurate to ~1e-15·σ_1·r: atol 1e-12·σ_1.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from shared_cases import assert_arrays_close

from gflab.cli import main
from gflab.sims.bridge import lora_run
from gflab.sims.bridge.analyze import analyze_checkpoints
from gflab.sims.bridge.callbacks import GflabSpectraCallback, SpectraRecorder
from gflab.sims.bridge.probes import LORA_MEASUREMENTS

pytestmark = pytest.mark.bridge
os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)
RTOL = 1e-12
STEPS, EVERY, SCALE = 12, 3, 2.0  # the example's lora_alpha 8 / r 4
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bridge_own_run.py"


def _example():
    spec = importlib.util.spec_from_file_location("bridge_own_run", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """The example's plain loop: live recorder, peft checkpoints and torch state dicts per step."""
    ex = _example()
    out = tmp_path_factory.mktemp("plain")
    # the state-dict series: the same loop also saves model.state_dict() at the recorded steps
    # (a subclass put in the freshly loaded example module's namespace only)
    model_saves = []

    class SavingRecorder(SpectraRecorder):
        def step(self, model, step):
            did = super().step(model, step)
            if did:
                (out / "sd").mkdir(exist_ok=True)
                torch.save(model.state_dict(), out / "sd" / f"step-{step}.pt")
                model_saves.append(model)
            return did

    ex.SpectraRecorder = SavingRecorder
    rec = ex.plain_loop(out / "peft", steps=STEPS, every=EVERY)
    model = model_saves[-1]
    final = {
        n: (
            m.lora_A["default"].weight.detach().double().numpy(),
            m.lora_B["default"].weight.detach().double().numpy(),
        )
        for n, m in rec.probe.modules.items()
    }
    return {"dir": out, "recorder": rec, "live": rec.result(), "final": final, "model": model}


def _sources(run, kind):
    d = run["dir"]
    if kind == "peft-folder":
        return [str(d / "peft")], []
    if kind == "peft-folders-unordered":
        folders = sorted((d / "peft").iterdir(), key=lambda p: p.name)  # 0, 12, 3, 6, 9
        return [str(p) for p in folders], []
    return sorted(str(p) for p in (d / "sd").iterdir()), ["--lora-alpha", "8"]


@pytest.mark.parametrize("kind", ["peft-folder", "peft-folders-unordered", "state-dict-files"])
def test_analyze_gives_the_live_probe_spectra(plain_run, kind, capsys):
    paths, extra = _sources(plain_run, kind)
    assert main(["bridge", "analyze", *paths, *extra, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    live = plain_run["live"]
    assert doc["steps"] == [int(t) for t in live["steps"]] == list(range(0, STEPS + 1, EVERY))
    assert set(doc["scale"]["values"].values()) == {SCALE}
    assert set(doc["modules"]) == set(live["modules"])
    got = np.array([[doc["modules"][n][k] for k in LORA_MEASUREMENTS[:3]] for n in live["modules"]])
    want = np.array([[m[k] for k in LORA_MEASUREMENTS[:3]] for m in live["modules"].values()])
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=0)
    keys = ("effective_rank", "stable_rank", "growth_slopes")
    assert_arrays_close(
        [doc["modules"][n][k] for k in keys for n in live["modules"]],
        [m[k] for k in keys for m in live["modules"].values()],
        rtol=RTOL,
    )
    keys = ("equal_rate_spread", "effective_rank_final", "stable_rank_final", "burn_in")
    got = {k: doc["summary"][k] for k in keys}
    assert got == pytest.approx({k: live["summary"][k] for k in keys}, rel=RTOL)


def test_analyze_final_spectra_match_a_dense_svd(plain_run):
    res = analyze_checkpoints([plain_run["dir"] / "peft"])
    got = np.array([res["modules"][n]["singular_values"][-1] for n in plain_run["final"]])
    dense = np.array(
        [
            np.linalg.svd(SCALE * B @ A, compute_uv=False)[: A.shape[0]]
            for A, B in plain_run["final"].values()
        ]
    )
    np.testing.assert_allclose(got, dense, rtol=0, atol=1e-12 * dense.max())


def test_analyze_human_output_has_reading_rule_and_scale_source(plain_run, capsys):
    assert main(["bridge", "analyze", str(plain_run["dir"] / "peft")]) == 0
    out = capsys.readouterr().out
    spread = plain_run["live"]["summary"]["equal_rate_spread"]
    assert f"equal_rate_spread          {spread:.4g}" in out
    assert "scale s = 2  (lora_alpha/r from" in out and "adapter_config.json" in out
    reading = [line for line in out.splitlines() if line.startswith("reading: ")]
    assert len(reading) == 1 and "0 = every mode grows at one rate" in reading[0]
    assert "4 (= r) = one mode grows" in reading[0]


def test_trainer_callback_records_what_trainer_saves(tmp_path):
    """The callback in a real HF Trainer run: its live spectra equal those of the checkpoint-N/
    folders Trainer saved at the same steps, and its JSON is what ``result()`` gives."""
    ex = _example()
    cb = ex.with_trainer(tmp_path, steps=6, every=EVERY)
    live = cb.result()
    saved = analyze_checkpoints([tmp_path])
    assert list(live["steps"]) == [0, 3, 6]  # on_train_begin logs the start
    assert list(saved["steps"]) == [3, 6]  # Trainer saves no step-0 checkpoint
    names = list(saved["modules"])
    assert_arrays_close(
        [saved["modules"][n]["singular_values"] for n in names],
        [live["modules"][n]["singular_values"][1:] for n in names],
        rtol=RTOL,
        atol=0,
    )
    written = json.loads((tmp_path / "gflab-spectra.json").read_text())
    assert written["steps"] == [0, 3, 6]


def test_callback_records_the_same_as_the_hook(plain_run):
    """Driving the callback by its Trainer events at the hook's steps gives the hook's series."""
    from transformers import TrainerState

    model = plain_run["model"]
    hook = SpectraRecorder(every=2)
    cb = GflabSpectraCallback(every=2)
    for step in range(5):
        with torch.no_grad():  # move the adapters between records: a different spectrum each time
            for mod in hook.probe.modules.values() if hook.probe else []:
                mod.lora_B["default"].weight.mul_(1.5)
        hook.step(model, step)
        event = cb.on_train_begin if step == 0 else cb.on_step_end
        event(None, TrainerState(global_step=step), None, model=model)
    assert hook.steps == cb.recorder.steps == [0, 2, 4]
    a, b = hook.arrays(), cb.recorder.arrays()
    np.testing.assert_array_equal(
        [a[n]["singular_values"] for n in a], [b[n]["singular_values"] for n in a]
    )
    assert not np.allclose(
        a[next(iter(a))]["singular_values"][0], a[next(iter(a))]["singular_values"][-1]
    )


# ----------------------------------------------------------------------------- bad inputs


def _bad(tmp_path, plain_run, case):
    peft = plain_run["dir"] / "peft"
    if case == "missing":
        return [str(tmp_path / "nope")]
    if case == "empty-folder":
        return [str(tmp_path)]
    if case == "not-weights":
        (tmp_path / "notes.txt").write_text("x")
        return [str(tmp_path / "notes.txt")]
    if case == "no-lora-keys":
        torch.save({"w": torch.zeros(2, 2)}, tmp_path / "step-1.pt")
        return [str(tmp_path / "step-1.pt")]
    if case == "no-step-in-name":
        shutil.copy(plain_run["dir"] / "sd" / "step-3.pt", tmp_path / "final.pt")
        return [str(tmp_path / "final.pt")]
    if case == "same-step-twice":
        return [str(peft / "checkpoint-3"), str(plain_run["dir"] / "sd" / "step-3.pt")]
    if case == "mismatched-shapes":
        shutil.copytree(peft, tmp_path / "run")
        ex = _example()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ex.tiny_lora_model(rank=2).save_pretrained(tmp_path / "run" / "checkpoint-99")
        return [str(tmp_path / "run")]
    if case == "burn-in-past-end":
        return [str(peft), "--burn-in", "99"]
    if case == "scale-and-alpha":
        return [str(peft), "--scale", "2", "--lora-alpha", "8"]
    raise AssertionError(case)


BAD = {
    "missing": "paths",
    "empty-folder": "paths",
    "not-weights": "paths",
    "no-lora-keys": "paths",
    "no-step-in-name": "paths",
    "same-step-twice": "paths",
    "mismatched-shapes": "paths",
    "burn-in-past-end": "burn_in",
    "scale-and-alpha": "scale",
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("as_json", [False, True])
def test_bad_inputs_exit_2_with_one_line(tmp_path, plain_run, capsys, case, as_json):
    argv = _bad(tmp_path, plain_run, case)
    assert main(["bridge", "analyze", *argv, *(["--json"] if as_json else [])]) == 2
    cap = capsys.readouterr()
    text = cap.out if as_json else cap.err
    assert len(text.strip().splitlines()) == 1
    if as_json:
        assert json.loads(text)["error"]["parameter"] == BAD[case]
    else:
        assert f"error: {BAD[case]}: expected" in text


def test_several_adapters_need_a_choice(tmp_path, plain_run, capsys):
    sd = torch.load(plain_run["dir"] / "sd" / "step-3.pt", weights_only=True)
    sd.update({k.replace(".default.", ".other."): v for k, v in sd.items() if ".default." in k})
    torch.save(sd, tmp_path / "step-3.pt")
    assert main(["bridge", "analyze", str(tmp_path / "step-3.pt")]) == 2
    assert "adapter: expected one of default, other" in capsys.readouterr().err
    res = analyze_checkpoints([tmp_path / "step-3.pt"], adapter="default", scale=SCALE)
    live = plain_run["live"]["modules"]
    assert_arrays_close(
        [m["singular_values"][0] for m in res["modules"].values()],
        [live[name]["singular_values"][1] for name in res["modules"]],
        rtol=RTOL,
    )


# ----------------------------------------------------------------------------- bridge lora's loss


def test_lora_progress_loss_is_the_summary_loss(capsys):
    """The progress line's last loss and ``loss_final`` are one labelled quantity: the mean of the
    last 10 batch losses (oracle: NumPy's mean of the run's per-step ``loss`` array)."""
    seen = []
    cfg = lora_run.BridgeLoRAConfig(model="tiny", steps=12, every=6, device="cpu")
    run = lora_run.run_lora(cfg, progress=lambda d, t, info: seen.append(info))
    last = seen[-1][lora_run.LOSS_LABEL]
    assert last == run["summary"]["loss_final"]
    # float64 sums of ten float32 values in another order: a few ulps apart at most
    assert last == pytest.approx(float(np.mean(run["loss"][-10:])), rel=1e-14)
    assert last != pytest.approx(float(run["loss"][-1]), rel=1e-3)  # not the last batch alone


def test_lora_cli_prints_one_loss_with_legend_and_reading(capsys):
    assert (
        main(["bridge", "lora", "--steps", "12", "--every", "6", "--device", "cpu", "--no-store"])
        == 0
    )
    cap = capsys.readouterr()
    final = [ln for ln in cap.out.splitlines() if ln.strip().startswith("loss_final")][0]
    value = float(final.split()[1])
    progress = [ln for ln in cap.err.splitlines() if lora_run.LOSS_LABEL in ln][-1]
    shown = float(progress.split(lora_run.LOSS_LABEL)[1].strip(" ]").split()[0].rstrip("],"))
    assert shown == pytest.approx(value, rel=5e-3)  # 3 vs 4 significant digits printed
    assert "mean of the last 10 batches" in final
    assert "reading: equal_rate_spread" in cap.out and "8 (= r)" in cap.out


# ----------------------------------------------------------------------------- the reading rule


@pytest.mark.parametrize("rank", [2, 4, 8])
def test_reading_rule_bounds_hold(rank):
    """The printed rule: spread 0 for equal slopes, exactly r for one growing mode, and within
    [0, r] for any non-negative slopes (2000 random draws, half of them sparse)."""
    from gflab.sims.bridge.probes import equal_rate_reading, equal_rate_spread

    assert equal_rate_spread(np.full(rank, 0.3)) == 0.0
    one = np.zeros(rank)
    one[0] = 0.7
    assert equal_rate_spread(one) == pytest.approx(rank, rel=1e-15)
    rng = np.random.default_rng(rank)
    c = rng.exponential(size=(2000, rank)) * (rng.random((2000, rank)) < 0.5)
    c[:, 0] += 1e-3  # a positive mean
    spreads = np.array([equal_rate_spread(row) for row in c])
    assert spreads.min() >= 0 and spreads.max() <= rank * (1 + 1e-12)
    assert f"{rank} (= r) = one mode grows" in equal_rate_reading(rank)
