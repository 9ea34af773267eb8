"""The PyTorch bridge: probes against dense float64 SVD, theory's measures on torch tensors, the
LoRA runner end to end (tiny BERT, packaged MiniLM), the deep linear runner, records, CLI, bench.

Tolerances: the QR-core spectra and the torch/NumPy measures are float64 computations of the
same quantity by different factorisations, so they agree to a few ulps times the size of the
problem (rtol 1e-10 leaves ample room; a wrong formula is off by O(1)).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import partial

import numpy as np
import pytest
import torch
from shared_cases import assert_arrays_close

from gflab.sims.bridge import dmf_run, lora_run, probes
from gflab.sims.bridge.optim import pseudo_polar, spec_exact_class
from gflab.sims.bridge.record import load_run, store_run, to_json
from gflab.sims.store import ResultStore
from gflab.theory import dmf as D
from gflab.theory import lora as TL
from gflab.theory import measures as M

pytestmark = pytest.mark.bridge
os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)
RTOL = 1e-10


def _cpu_lora(**fields):
    """A LoRA bridge run on the CPU (the tests' numbers do not depend on a GPU being there)."""
    return lora_run.BridgeLoRAConfig(device="cpu", **fields)


def _cpu_dmf(**fields):
    """A deep-linear bridge run on the CPU."""
    return dmf_run.BridgeDMFConfig(device="cpu", **fields)


def dense_svals(A, B, scale):
    P = scale * (B.detach().double().cpu().numpy() @ A.detach().double().cpu().numpy())
    return np.linalg.svd(P, compute_uv=False)


# ----------------------------------------------------------------------------- probes


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lora_product_svals_match_dense_svd(dtype):
    g = torch.Generator().manual_seed(0)
    A = torch.randn(8, 120, generator=g, dtype=dtype)
    B = torch.randn(90, 8, generator=g, dtype=dtype) * torch.logspace(0, -6, 8, dtype=dtype)
    s, sA, sB = probes.lora_product_singular_values(A, B, 2.5)
    ref = dense_svals(A, B, 2.5)[:8]
    assert s.dtype == torch.float64
    np.testing.assert_allclose(s.numpy(), ref, rtol=RTOL, atol=1e-14 * ref[0])
    np.testing.assert_allclose(
        sA.numpy(), np.linalg.svd(A.double().numpy(), compute_uv=False), rtol=RTOL
    )
    np.testing.assert_allclose(
        sB.numpy(), np.linalg.svd(B.double().numpy(), compute_uv=False), rtol=RTOL
    )


def test_lora_product_svals_batched_and_zero():
    A = torch.randn(3, 4, 30, dtype=torch.float64)
    B = torch.randn(3, 20, 4, dtype=torch.float64)
    s, _, _ = probes.lora_product_singular_values(A, B)
    ref = np.stack([dense_svals(a, b, 1.0)[:4] for a, b in zip(A, B, strict=True)])
    np.testing.assert_allclose(s.numpy(), ref, rtol=RTOL)
    s0, _, _ = probes.lora_product_singular_values(A[0], torch.zeros(20, 4))
    assert float(s0.abs().max()) == 0.0


@pytest.mark.parametrize(
    "measure",
    [M.singular_values, M.stable_rank, M.effective_rank, partial(M.effective_rank, power=2)],
    ids=["singular_values", "stable_rank", "effective_rank", "effective_rank_power_2"],
)
def test_spectral_measures_on_torch_equal_numpy(measure):
    W = np.random.default_rng(1).standard_normal((3, 7, 5))
    np.testing.assert_allclose(measure(torch.tensor(W)).numpy(), np.asarray(measure(W)), rtol=RTOL)


def test_factor_measures_on_torch_equal_numpy():
    factors = D.gaussian_init(6, 3, 1.0, seed=2)
    ft = [torch.tensor(f) for f in factors]
    got = [a.numpy() for a in M.balancedness(ft)]
    assert_arrays_close(got, M.balancedness(factors), rtol=RTOL, atol=1e-14)
    ref = [f * 1.1 for f in factors]
    np.testing.assert_allclose(
        float(M.balancedness_residual(ft, [torch.tensor(r) for r in ref])),
        float(M.balancedness_residual(factors, ref)),
        rtol=RTOL,
    )
    mask = D.block_diagonal_mask(6, 2)
    rows, cols = D.observed_indices(mask)
    K = D.tangent_kernel(factors, rows, cols)
    Kt = D.tangent_kernel(ft, torch.as_tensor(rows), torch.as_tensor(cols))
    np.testing.assert_allclose(Kt.numpy(), K, rtol=RTOL, atol=1e-14)
    groups = D.observation_groups(mask)
    np.testing.assert_allclose(
        float(M.cross_coupling(Kt, groups)), float(M.cross_coupling(K, groups)), rtol=RTOL
    )


def test_growth_fits_and_spread():
    t = np.arange(0, 101, 10)
    a = np.array([3.0, 2.0, 1.0])
    equal = (a + 0.05 * t[:, None]) ** 2
    fit = probes.growth_fits(t, equal, burn_in=20)
    np.testing.assert_allclose(fit["slopes"], 0.05, rtol=1e-10)
    np.testing.assert_allclose(fit["r2"], 1.0, rtol=1e-12)
    assert abs(probes.equal_rate_spread(fit["slopes"])) < 1e-9
    unequal = (a + np.array([0.1, 0.05, 0.03]) * t[:, None]) ** 2
    c = probes.growth_fits(t, unequal, burn_in=0)["slopes"]
    assert probes.equal_rate_spread(c) == pytest.approx((0.1 - 0.03) / 0.06, rel=1e-9)
    assert np.isnan(probes.growth_fits(t, equal, burn_in=100)["slopes"]).all()
    assert np.isnan(probes.equal_rate_spread([-1.0, 1.0e-3, -0.5]))


# ----------------------------------------------------------------------------- optimizers


@pytest.mark.parametrize("shape", [(8, 40), (40, 8)])
def test_pseudo_polar_is_theorys_polar(shape):
    G = torch.randn(*shape, dtype=torch.float64)
    np.testing.assert_allclose(pseudo_polar(G).numpy(), TL.polar(G).numpy(), atol=1e-12)
    assert float(pseudo_polar(torch.zeros(shape)).abs().max()) == 0.0
    low = torch.randn(shape[0], 2, dtype=torch.float64) @ torch.randn(
        2, shape[1], dtype=torch.float64
    )
    sv = torch.linalg.svdvals(pseudo_polar(low))
    np.testing.assert_allclose(sv[:2].numpy(), 1.0, rtol=1e-10)
    assert float(sv[2:].max()) < 1e-10


def test_spec_exact_step_matches_formula():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(40, 8, dtype=torch.float64))
    g = torch.randn(40, 8, dtype=torch.float64)
    p0 = p.detach().clone()
    opt = spec_exact_class()([p], lr=0.1, weight_decay=0.01, momentum=0.9, nesterov=True)
    p.grad = g.clone()
    opt.step()
    buf = 0.1 * g  # lerp(0, g, 1 − μ)
    upd = g + 0.9 * (buf - g)  # Nesterov: g.lerp(buf, μ)
    lr_adj = 0.1 * np.sqrt(40 / 8)  # adjust_lr_fn="original"
    expected = p0 * (1 - 0.1 * 0.01) - lr_adj * TL.polar(upd)
    np.testing.assert_allclose(p.detach().numpy(), expected.numpy(), atol=1e-12)


# ----------------------------------------------------------------------------- LoRA runner


def _check_run_against_dense(run, model_modules=None):
    """Schema of the JSON contract; final spectra against a dense SVD where modules are given."""
    for key in (
        "config",
        "device",
        "torch_version",
        "steps",
        "modules",
        "summary",
        "loss",
        "optimizer",
        "dtype",
        "timing",
    ):
        assert key in run
    T = len(run["steps"])
    r = run["config"]["rank"]
    for m in run["modules"].values():
        assert m["singular_values"].shape == (T, r)
        assert m["A_singular_values"].shape == (T, r)
        assert m["effective_rank"].shape == (T,)
        assert m["growth_slopes"].shape == (r,)
    json.dumps(to_json(run), allow_nan=False)
    assert np.all(np.isfinite(run["loss"]))


def test_tiny_lora_muon_end_to_end(tmp_path):
    cfg = _cpu_lora(model="tiny", optimizer="muon", steps=20, every=5, seed=3)
    run = lora_run.run_lora(cfg)
    _check_run_against_dense(run)
    assert list(run["steps"]) == [0, 5, 10, 15, 20]
    assert len(run["modules"]) == 4  # 2 layers × (query, value)
    first = next(iter(run["modules"].values()))
    assert np.all(first["singular_values"][0] == 0)  # B = 0: the product starts at zero
    assert np.all(first["singular_values"][-1] > 0)
    assert run["optimizer"]["lora"]["class"] == "torch.optim.Muon"
    assert run["optimizer"]["lora"]["ns_dtype"] == "bfloat16"
    assert run["summary"]["burn_in"] == 5
    # store round trip: float64 arrays and metadata survive
    store = ResultStore(tmp_path)
    store_run(store, run)
    back = load_run(store, run["config"], run["torch_version"])
    name = next(iter(run["modules"]))
    np.testing.assert_array_equal(
        back["modules"][name]["singular_values"], first["singular_values"]
    )
    assert back["summary"] == to_json(run["summary"])
    assert back["device"] == "cpu"


def test_probe_on_live_peft_model_matches_dense():
    from peft import LoraConfig, get_peft_model

    cfg = lora_run.BridgeLoRAConfig(model="tiny", init="small-random", init_scale=0.05)
    base, _ = lora_run._build_model(cfg)
    with pytest.warns(FutureWarning, match="is_gradient_checkpointing"):
        # peft 0.21.2 against transformers 5.23 (run_lora silences this same warning)
        lcfg = LoraConfig(
            r=4,
            lora_alpha=8,
            target_modules=["query", "value"],
            lora_dropout=0.0,
            task_type="SEQ_CLS",
        )
        model = get_peft_model(base, lcfg)
    probe = probes.LoRAProbe(model, every=1)
    lora_run._apply_init(probe.modules, cfg, torch.Generator().manual_seed(0))
    probe.record(0)
    arrays = probe.arrays()
    ref = {
        name: dense_svals(mod.lora_A["default"].weight, mod.lora_B["default"].weight, 2.0)[:4]
        for name, mod in probe.modules.items()
    }
    got = {name: arrays[name]["singular_values"][0] for name in ref}
    assert_arrays_close(got.values(), ref.values(), rtol=1e-9)
    erank = [float(M.effective_rank(None, sigma=torch.tensor(r))) for r in ref.values()]
    np.testing.assert_allclose([arrays[n]["effective_rank"][0] for n in ref], erank, rtol=1e-9)


@pytest.mark.parametrize("optimizer,init", [("adamw", "exchanged"), ("spec-exact", "small-random")])
def test_tiny_lora_other_optimizers_and_inits(optimizer, init):
    cfg = _cpu_lora(model="tiny", optimizer=optimizer, init=init, steps=10, every=5)
    run = lora_run.run_lora(cfg)
    _check_run_against_dense(run)
    m = next(iter(run["modules"].values()))
    if init == "exchanged":
        assert np.all(m["A_singular_values"][0] == 0) and np.all(m["B_singular_values"][0] > 0)
    else:
        # small-random: σ(A) ≈ init_scale·(√d_in ± √r) for a 8×64 Gaussian
        sA = m["A_singular_values"][0]
        assert np.all((sA > 1e-3 * 4) & (sA < 1e-3 * 12))
    cls = run["optimizer"]["lora"]["class"]
    assert cls == (
        "torch.optim.AdamW" if optimizer == "adamw" else "gflab.sims.bridge.optim.SpecExact"
    )


def test_minilm_handful_of_steps():
    cfg = _cpu_lora(
        model="minilm",
        optimizer="muon",
        steps=3,
        every=1,
        batch_size=8,
        n_train=32,
        n_eval=16,
    )
    run = lora_run.run_lora(cfg)
    _check_run_against_dense(run)
    assert len(run["modules"]) == 12  # 6 layers × (query, value)
    assert any("encoder.layer.5.attention.self.value" in n for n in run["modules"])
    assert all(np.all(m["singular_values"][-1] > 0) for m in run["modules"].values())


def test_bad_lora_inputs_name_the_parameter():
    from gflab.theory import GflabInputError

    with pytest.raises(GflabInputError, match="optimizer"):
        lora_run.BridgeLoRAConfig(optimizer="sgd")
    with pytest.raises(GflabInputError, match="burn_in"):
        lora_run.BridgeLoRAConfig(steps=10, burn_in=10)
    with pytest.raises(GflabInputError, match="modules"):
        lora_run.run_lora(lora_run.BridgeLoRAConfig(modules=("nonexistent",), steps=1))


# ----------------------------------------------------------------------------- deep linear


def test_dmf_autograd_gradient_is_theorys_field():
    cfg = dmf_run.BridgeDMFConfig(depth=3, n=10, rank=2, observed=0.4, alpha=1.0, steps=1, every=1)
    M1, _ = cfg.masks()
    target = D.lowrank_target(10, 2, seed=7919)
    init = D.gaussian_init(10, 3, 1.0, seed=0)
    Ws = [torch.nn.Parameter(torch.tensor(w)) for w in init]
    (D.masked_loss(Ws, torch.tensor(M1), torch.tensor(target)) / M1.sum()).backward()
    field = D.gradient_field(init, M1, target)
    want = [-f / M1.sum() for f in field]
    assert_arrays_close([W.grad.numpy() for W in Ws], want, rtol=1e-12, atol=1e-15)


def test_dmf_runner_depth_two_decoupled_depth_three_coupled():
    common = dict(
        n=12,
        rank=2,
        mask="block:3",
        alpha=1e-1,
        init="orthogonal",
        lr=2.0,
        steps=200,
        every=50,
    )
    two = dmf_run.run_dmf(_cpu_dmf(depth=2, **common))
    three = dmf_run.run_dmf(_cpu_dmf(depth=3, **common))
    assert two["summary"]["status"] == three["summary"]["status"] == "finished"
    assert two["summary"]["coupling_groups"] == 3
    # DMC-2: entries sharing no row or column never interact at depth 2 (up to round-off)
    assert np.max(two["modules"]["product"]["cross_coupling"]) < 1e-12
    # DMC-1: at depth 3 the middle term couples the blocks
    assert three["modules"]["product"]["cross_coupling"][-1] > 1e-3
    assert np.all(np.diff(two["loss"][:50]) < 0)  # GD on a small step decreases the loss
    p = two["modules"]["product"]
    assert p["singular_values"].shape == (5, 12)
    json.dumps(to_json(two), allow_nan=False)


def test_dmf_plasticity_switch_and_divergence():
    cfg = _cpu_dmf(
        depth=2,
        n=30,
        rank=2,
        observed=0.4,
        pretrain_observed=0.2,
        switch_step=100,
        steps=200,
        every=100,
        lr=5.0,
    )
    M1, M2 = cfg.masks()
    assert np.all(M1 <= M2) and 0 < M1.sum() < M2.sum()  # nested Ω1 ⊂ Ω2
    run = dmf_run.run_dmf(cfg)
    assert run["summary"]["pretrain_observed_entries"] == int(M1.sum())
    assert run["loss"][100] > run["loss"][99]  # new entries enter the loss at the switch
    bad = dmf_run.run_dmf(_cpu_dmf(n=20, mask="block:4", steps=100, every=50, lr=20.0))
    assert bad["summary"]["status"] == "diverged"
    assert np.all(np.isfinite(bad["modules"]["product"]["singular_values"]))


# ----------------------------------------------------------------------------- CLI, bench, import


def test_cli_bridge_dmf_and_lora_json(capsys, tmp_path):
    from gflab.cli import main

    assert (
        main(
            [
                "bridge",
                "dmf",
                "--n",
                "10",
                "--rank",
                "2",
                "--steps",
                "50",
                "--every",
                "25",
                "--lr",
                "2",
                "--json",
                "--store",
                str(tmp_path / "s"),
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["steps"] == [0, 25, 50]
    assert set(doc["modules"]["product"]) >= {
        "singular_values",
        "stable_rank",
        "cross_coupling",
        "balancedness",
    }
    assert doc["store_key"]
    assert (
        main(
            [
                "bridge",
                "lora",
                "--model",
                "tiny",
                "--steps",
                "4",
                "--every",
                "2",
                "--seeds",
                "0,1",
                "--json",
                "--no-store",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["seeds"] == [0, 1] and len(doc["runs"]) == 2
    assert "effective_rank_final_std" in doc["summary"]
    assert len(list((tmp_path / "o").glob("*.json"))) == 2
    assert main(["bridge", "lora", "--device", "tpu", "--steps", "1"]) == 2


def test_probe_overhead_reports_fractions():
    from gflab.sims.bridge.bench import probe_overhead

    res = probe_overhead(model="tiny", every=10, steps=20)
    assert res["per_log_fraction"] > 0
    assert res["amortised_fraction"] == pytest.approx(res["per_log_fraction"] / 10)


def test_import_sims_bridge_does_not_import_torch():
    code = "import sys, gflab.sims, gflab.sims.bridge; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_tiny_lora_on_gpu_matches_cpu_probe():
    cfg = lora_run.BridgeLoRAConfig(
        model="tiny", optimizer="muon", steps=10, every=5, device="cuda"
    )
    run = lora_run.run_lora(cfg)
    assert run["device"] == "cuda"
    _check_run_against_dense(run)
    A = torch.randn(8, 384, device="cuda")
    B = torch.randn(384, 8, device="cuda")
    s, _, _ = probes.lora_product_singular_values(A, B, 2.0)
    np.testing.assert_allclose(s.numpy(), dense_svals(A, B, 2.0)[:8], rtol=1e-9)
