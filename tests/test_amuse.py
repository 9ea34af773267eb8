"""Schedule-Free (theory.schedule_free) against the ``schedulefree`` package; the published AMUSE
(torch and array versions) against a transcription of the authors' code; the river-valley model
against its closed form; claims AMUSE-1/AMUSE-2 and their false variants."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from shared_cases import assert_arrays_close

from gflab.theory import schedule_free as SF
from gflab.theory.errors import GflabInputError
from gflab.theory.lora import newton_schulz
from gflab.theory.optim import apply_updates

schedulefree = pytest.importorskip("schedulefree")  # pinned in requirements/test.lock
torch.set_num_threads(1)

RNG = np.random.default_rng(0)
A_MAT, B_VEC = RNG.standard_normal((6, 4)), RNG.standard_normal(6)
W0, C0 = RNG.standard_normal((4, 3)), RNG.standard_normal(3)


def _grads(W, c):
    """∇ of ½‖A W + c − b‖² (a small least-squares problem with a matrix and a bias)."""
    R = A_MAT @ W + c - B_VEC[:, None]
    return A_MAT.T @ R, R.sum(0)


def _torch_run(cls, steps, **kw):
    tW = torch.tensor(W0, requires_grad=True)
    tc = torch.tensor(C0, requires_grad=True)
    opt = cls([tW, tc], **kw)
    opt.train()
    for _ in range(steps):
        opt.zero_grad()
        R = torch.tensor(A_MAT) @ tW + tc - torch.tensor(B_VEC)[:, None]
        (0.5 * (R**2).sum()).backward()
        opt.step()
    y = (tW.detach().numpy().copy(), tc.detach().numpy().copy())
    opt.eval()  # parameters become the average x
    x = (tW.detach().numpy().copy(), tc.detach().numpy().copy())
    return y, x


def _ours(opt, steps):
    st = opt.init((W0, C0))
    y = (W0, C0)
    for _ in range(steps):
        u, st = opt.update(_grads(*y), st, y)
        y = apply_updates(y, u)
    return y, st.x


CASES = {
    "adamw-reference": (
        "AdamWScheduleFreeReference",
        SF.schedule_free_adamw,
        dict(lr=0.05, warmup_steps=5, weight_decay=0.01),
    ),
    "adamw": ("AdamWScheduleFree", SF.schedule_free_adamw, dict(lr=0.05, warmup_steps=5)),
    "adamw-r": ("AdamWScheduleFree", SF.schedule_free_adamw, dict(lr=0.02, r=1.0)),
    "sgd": ("SGDScheduleFree", SF.schedule_free_sgd, dict(lr=0.01, warmup_steps=3)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_schedule_free_matches_package(name):
    """y (the training point) and x (the eval-mode average) after 40 steps agree with the
    package's float64 optimiser to a few ulps: the same recurrences (the package's main AdamW runs
    them in y-space, a different association of the same sums, hence 1e-13 not exact)."""
    cls_name, ours, kw = CASES[name]
    ty, tx = _torch_run(getattr(schedulefree, cls_name), 40, **kw)
    oy, ox = _ours(ours(**kw), 40)
    assert_arrays_close((*oy, *ox), (*ty, *tx), rtol=1e-12, atol=1e-13)


def test_uniform_average_weights():
    """r = 0, no warmup: c_k = 1/(k+1), so x is the plain mean of z_1..z_k (Defazio et al.)."""
    opt = SF.schedule_free_sgd(0.05, beta=0.9, weight_lr_power=2.0)
    st = opt.init((W0,))
    y, zs = (W0,), []
    for _ in range(7):
        u, st = opt.update((_grads(y[0], C0)[0],), st, y)
        y = apply_updates(y, u)
        zs.append(st.z[0])
    np.testing.assert_allclose(st.x[0], np.mean(zs, axis=0), rtol=1e-13)
    np.testing.assert_allclose(y[0], 0.1 * st.z[0] + 0.9 * st.x[0], rtol=1e-14)


def test_bad_parameters_are_refused():
    with pytest.raises(GflabInputError):
        SF.ScheduleFree(base="lion")
    with pytest.raises(GflabInputError):
        SF.AMUSE(beta1=0.0)  # x = (y − (1 − β) z)/β needs β > 0
    with pytest.raises(GflabInputError):
        SF.AMUSE(aux_update_type="lion")


# ----------------------------------------------------------------------------- river valley


def test_river_gd_matches_closed_form():
    """GD on the river quadratic is per-column geometric: P_K = 1 − (1 − η h_bulk)^K exactly
    (σ = 0), and likewise the walls, (1 − η h_wall)^K."""
    from gflab.sims.river import RiverConfig, simulate_river

    cfg = RiverConfig(h_bulk=2e-3, steps=200, lr_gd=0.7)
    gd = simulate_river(cfg)["gd"]["W"]
    k = np.arange(cfg.steps + 1)
    np.testing.assert_allclose(gd["bulk_progress_series"], 1 - (1 - 0.7 * 2e-3) ** k, rtol=1e-12)
    # W − W* is formed next to W* = 1: an absolute rounding error of a few ulps of 1
    np.testing.assert_allclose(
        gd["wall_series"], np.sqrt(2) * (1 - 0.7) ** k, rtol=1e-12, atol=1e-15
    )


def _holding_amuse2(cfg):
    """AMUSE-2 is a map; its holding corner (slow rise of β: ρ = 0.3, T₀ = 300, η = 0.03)."""
    from dataclasses import replace

    return replace(cfg, beta1=0.6, rho=0.3, warmup_steps=300, lr=0.03)


FALSE_CASES = [
    ("AMUSE-1", "no river"),
    ("AMUSE-1", "zero noise"),
    ("AMUSE-2", "fast rise"),
]


@pytest.mark.parametrize("cid, variant", FALSE_CASES, ids=[f"{c}-{v}" for c, v in FALSE_CASES])
def test_amuse_false_variant_is_violated_where_the_claim_holds(cid, variant):
    """tests/test_false_variants.py's pattern: on the claim's first drawn example the claim holds
    and the false variant is reported violated by the same check (AMUSE-1 without a river, AMUSE-1
    at σ = 0 where GD's amplitude is exactly 0, AMUSE-2 with β rising to 1 right after a short
    warmup)."""
    from shared_cases import first_example

    from gflab.proofs_checks.amuse import FALSE_VARIANTS
    from gflab.proofs_checks.registry import claims

    claim = claims()[cid]
    ex = first_example(claim.strategy())
    if claim.report_only:
        ex = _holding_amuse2(ex)
    true_ev = claim.check(ex)
    what, false_check = FALSE_VARIANTS[cid][variant]
    false_ev = false_check(ex)
    assert true_ev.held, (cid, true_ev.margin, true_ev.numbers)
    assert not false_ev.held, (cid, what, false_ev.margin, false_ev.note)


def test_gd_wall_amplitude_is_the_noise_floor():
    """GD at step 1/h_wall under noise σ: each wall entry is −ησξ_k, so the RMS over the last
    100 steps of ‖·‖ over the 8 wall entries is ησ√8 up to sampling (800 squared normals:
    relative std ≈ 1/√(2·800) = 2.5 %; tolerance 12.5 %, five of those)."""
    from gflab.proofs_checks.amuse import noise_floor
    from gflab.sims.river import RiverConfig, simulate_river

    cfg = RiverConfig(noise=1e-4, steps=400, warmup_steps=40)
    measured = simulate_river(cfg)["gd"]["W"]["wall_amplitude"]
    assert noise_floor(cfg) == pytest.approx(1e-4 * math.sqrt(8), rel=1e-14)
    assert measured == pytest.approx(noise_floor(cfg), rel=0.125)


def _muon_by_hand(V, buf, g, lr, mu=0.95):
    """One Muon step transcribed from its definition (docs/theory.md §2.2, the EMA form):
    buf ← μ buf + (1 − μ) g, u = g + μ (buf − g) (Nesterov), V ← V − lr NS₅(u)."""
    buf = mu * buf + (1 - mu) * g
    u = g + mu * (buf - g)
    return V - lr * np.asarray(newton_schulz(u, 5)), buf


def test_amuse_base_step_is_muon():
    """``averaging=False`` (the river's Muon) against Muon transcribed by hand with step
    lr_t·0.2·√max(m, n): the same momentum, Nesterov and Newton–Schulz (different code paths:
    torch-style lerps vs the EMA formula), 150 steps of the river, to 1e-12."""
    from gflab.sims.river import RiverConfig, river_loss_gradient, river_problem

    cfg = RiverConfig(noise=0.0, warmup_steps=20)
    W0_, target, h = river_problem(cfg)
    opt = cfg.amuse()
    W, st = (W0_,), opt.init((W0_,))
    V, buf = W0_, np.zeros_like(W0_)
    for k in range(150):
        u, st = opt.update((river_loss_gradient(W[0], target, h)[1],), st, W, averaging=False)
        W = apply_updates(W, u)
        lr = cfg.lr * min(1.0, (k + 1) / cfg.warmup_steps) * 0.2 * 2.0
        V, buf = _muon_by_hand(V, buf, river_loss_gradient(V, target, h)[1], lr)
    np.testing.assert_allclose(W[0], V, rtol=0, atol=1e-12)


def test_amuse_param_step_runs_under_jit():
    """The array step with coefficients as traced arguments: a jitted lax.scan over
    amuse_schedule's arrays equals the host loop of AMUSE.update (float64; XLA fuses the same
    operations, so ulps: measured ≤ 1e-15, tolerance 1e-13)."""
    import jax
    import jax.numpy as jnp

    from gflab.sims.river import RiverConfig, river_problem

    cfg = RiverConfig(warmup_steps=20, steps=100)
    W0_, target, h = river_problem(cfg)
    opt = cfg.amuse()
    muon = opt.update_for(W0_)  # the matrix group's MuonUpdate, chosen once
    sch = opt.schedule(cfg.steps)
    tgt, hh = jnp.asarray(target), jnp.asarray(h)

    def body(carry, coef):
        y, z, buf = carry
        lr, c, beta, t = coef
        g = (y - tgt) * hh[None, :]
        y, z, buf = SF.amuse_param_step(y, g, z, buf, update=muon, lr=lr, c=c, beta=beta, t=t)
        return (y, z, buf), None

    W = jnp.asarray(W0_)
    coefs = (sch["lr"], sch["c"], sch["beta"], jnp.arange(1, cfg.steps + 1))
    (y_jit, _, _), _ = jax.jit(lambda c: jax.lax.scan(body, (W, W, 0.0 * W), c))(coefs)
    y, st = (W0_,), opt.init((W0_,))
    for _ in range(cfg.steps):
        u, st = opt.update(((y[0] - target) * h,), st, y)
        y = apply_updates(y, u)
    np.testing.assert_allclose(np.asarray(y_jit), y[0], rtol=0, atol=1e-13)


def test_claims_run_under_ci():
    from gflab.proofs_checks.registry import claims
    from gflab.proofs_checks.runner import run_claim

    reg = claims()
    rep = run_claim(reg["AMUSE-1"], profile="ci")
    assert rep.verdict == "held" and rep.examples == reg["AMUSE-1"].examples["ci"]
    assert reg["AMUSE-2"].report_only and reg["DASH-1"].report_only


def test_bridge_schedule_free_muon_matches_theory():
    """The bridge's gflab Schedule-Free Muon against theory.schedule_free on NumPy (float64
    tensors): the same arithmetic through array-api-compat, so agreement to rounding (1e-12)."""
    from gflab.sims.bridge.optim import build_optimizers, optimizer_settings

    settings = optimizer_settings("sf-muon", 0.02, 2e-3, 0.0, 0.0, 0.95, True, "original")
    tW = torch.tensor(W0, requires_grad=True)
    (opt,) = build_optimizers("sf-muon", [tW], [], settings)
    lr = 0.02 * math.sqrt(max(1.0, W0.shape[0] / W0.shape[1]))  # torch Muon's "original" factor
    ours = SF.schedule_free_muon(lr)
    st, y = ours.init((W0,)), (W0,)
    for _ in range(12):
        opt.zero_grad()
        R = torch.tensor(A_MAT) @ tW + torch.tensor(C0) - torch.tensor(B_VEC)[:, None]
        (0.5 * (R**2).sum()).backward()
        opt.step()
        u, st = ours.update((_grads(y[0], C0)[0],), st, y)
        y = apply_updates(y, u)
    np.testing.assert_allclose(tW.detach().numpy(), y[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(opt.average()[0].numpy(), st.x[0], rtol=1e-12, atol=1e-14)


def test_bridge_amuse_wiring_matches_theory():
    """``bridge lora --optimizer amuse``'s optimizer (build_optimizers: LoRA matrices in a Muon
    group, the head in an AdamW-type group with its own lr and decay) against theory's AMUSE on
    NumPy with lr / aux_lr / weight decays mapped: 30 steps of the matrix + bias problem, float64
    Newton–Schulz; different code (torch lerps and BLAS vs NumPy), so ulps: tolerance 1e-12."""
    from gflab.sims.bridge.optim import build_optimizers, optimizer_settings

    hp = dict(beta1=0.6, rho=0.8, warmup_steps=5, r=0.0, weight_lr_power=2.0)
    amuse = {**hp, "aux_update_type": "adamw", "ns_dtype": "float64"}
    settings = optimizer_settings("amuse", 0.02, 5e-3, 0.01, 0.002, 0.95, True, "original", amuse)
    tW, tc = (torch.tensor(a, requires_grad=True) for a in (W0, C0))
    (opt,) = build_optimizers("amuse", [tW], [tc], settings)
    ours = SF.AMUSE(lr=0.02, aux_lr=5e-3, weight_decay=0.01, aux_weight_decay=0.002, **hp)
    y = (W0, C0)
    st = ours.init(y)
    for _ in range(30):
        opt.zero_grad()
        R = torch.tensor(A_MAT) @ tW + tc - torch.tensor(B_VEC)[:, None]
        (0.5 * (R**2).sum()).backward()
        opt.step()
        u, st = ours.update(_grads(*y), st, y)
        y = apply_updates(y, u)
    got = np.concatenate([tW.detach().numpy().ravel(), tc.detach().numpy()])
    np.testing.assert_allclose(got, np.concatenate([y[0].ravel(), y[1]]), rtol=0, atol=1e-12)


def test_rate_summary_on_exact_equal_rate():
    """√d_i = η k for every mode (SpecGD's equal rate, docs/theory.md §2.2): slopes 1 in units of η,
    spread 0 (to the least-squares fit's rounding), half-arrivals √(s_i/2)/η (linear
    interpolation between integer steps of a convex d_i: within one step)."""
    from gflab.sims.sf_lora import rate_summary

    eta, s = 0.01, np.array([0.5, 2.0, 8.0])
    k = np.arange(400)
    d = np.minimum((eta * k)[:, None] ** 2, s[None, :])
    out = rate_summary(d, s, eta)
    np.testing.assert_allclose(out["sqrt_slope"], 1.0, rtol=1e-9)
    assert out["rate_spread"] < 1e-9
    np.testing.assert_allclose(out["half_arrival"], np.sqrt(s / 2) / eta, atol=1.0)


# ----------------------------------------------------------------------------- published AMUSE
# The oracle: a transcription of the authors' torch AMUSE (kjeiun/amuse, src/optim/AMUSE.py, the
# revision with aux update types; docs/dash-amuse.md), kept as written except that the
# Newton–Schulz precision is a parameter (theirs: ``G.bfloat16()``), the error type is generic, and
# the steps the three update types repeat around their z update (decay at y and y → x before,
# x → y after) are written once, as ``_pub_before_z`` and ``_pub_after_z``.


@torch.no_grad()
def _pub_zeropower(G, steps=5, dtype=torch.bfloat16):
    assert G.ndim >= 2
    a, b, c = 3.4445, -4.7750, 2.0315
    X = G.to(dtype)
    transposed = False
    if G.size(-2) > G.size(-1):
        X = X.mT
        transposed = True
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + 1e-7)
    for _ in range(steps):
        A = X @ X.mT
        B = b * A + c * (A @ A)
        X = a * X + B @ X
    if transposed:
        X = X.mT
    return X


@torch.no_grad()
def _pub_muon_update(grad, momentum, beta=0.95, aux_update_type="adamw", nesterov=True, dtype=None):
    momentum.lerp_(grad, 1 - beta)
    update = grad.lerp_(momentum, beta) if nesterov else momentum
    if update.ndim == 4:
        update = update.view(len(update), -1)
    update = _pub_zeropower(update, dtype=dtype)
    if aux_update_type == "adamw":
        update *= 0.2 * max(update.size(0), update.size(1)) ** 0.5
    elif aux_update_type == "sgd":
        update *= max(1, update.size(-2) / update.size(-1)) ** 0.5
    else:
        raise ValueError(aux_update_type)
    return update


class _PublishedAMUSE(torch.optim.Optimizer):
    def __init__(
        self,
        param_groups,
        *,
        weight_decay_at_y=0.0,
        beta1=0.9,
        weight_lr_power=2.0,
        warmup_steps=0,
        rho=1.0,
        r=0.0,
        ns_dtype=torch.bfloat16,
    ):
        if warmup_steps <= 0:
            raise ValueError("AMUSE requires warmup_steps > 0.")
        self.ns_dtype = ns_dtype
        self.weight_decay_at_y = weight_decay_at_y
        self.beta1_init = float(beta1)
        self.weight_lr_power = weight_lr_power
        self.warmup_steps = int(warmup_steps)
        self.rho = float(rho)
        self.r = r
        self.train_mode = False
        super().__init__(param_groups, defaults={})
        for group in self.param_groups:
            group.setdefault("warmup_steps", self.warmup_steps)
            group.setdefault("k", 0)
            group.setdefault("weight_sum", 0.0)
            group.setdefault("use_muon", False)
            group.setdefault("weight_decay", 0.0)
            group.setdefault("beta1", self.beta1_init)
            update_type = "muon" if group["use_muon"] else group.get("update_type", "adamw")
            group["update_type"] = update_type
            if update_type == "muon":
                group.setdefault("lr", 0.02)
                group.setdefault("momentum", 0.95)
                group.setdefault("aux_update_type", "adamw")
                group["params"] = sorted(group["params"], key=lambda x: x.size(), reverse=True)
                for p in group["params"]:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = torch.zeros_like(p)
            elif update_type == "adamw":
                group.setdefault("lr", 3e-4)
                group.setdefault("beta2", 0.999)
                group.setdefault("eps", 1e-10)
                for p in group["params"]:
                    state = self.state[p]
                    if "exp_avg_sq" not in state:
                        state["exp_avg_sq"] = torch.zeros_like(p)
            elif update_type == "sgd":
                group.setdefault("lr", 1.0)
            group["base_lr"] = group["lr"]

    def _compute_beta1(self, group, t, ckp1, warmup_steps):
        if t <= warmup_steps:
            if t == warmup_steps:
                group["c_warmup"] = ckp1
            return self.beta1_init
        c_warmup = group.get("c_warmup", 1.0 / warmup_steps)
        S_t = (ckp1 * (1.0 - c_warmup)) / (c_warmup * (1.0 - ckp1))
        return 1.0 - (S_t**self.rho) * (1.0 - self.beta1_init)

    def _get_z(self, p):
        state = self.state[p]
        z = state.get("z")
        if z is None:
            z = state["z"] = torch.clone(p, memory_format=torch.preserve_format)
        return z

    def _apply_weight_decay_at_y(self, p, z, lr, beta1):
        if self.weight_decay_at_y == 0.0:
            return
        z.sub_(p, alpha=lr * self.weight_decay_at_y)
        p.sub_(p, alpha=lr * self.weight_decay_at_y * (1.0 - beta1))

    def _pub_before_z(self, p, lr, beta1):
        z = self._get_z(p)
        self._apply_weight_decay_at_y(p, z, lr, beta1)
        p.lerp_(end=z, weight=1.0 - 1.0 / beta1)
        return z

    def _pub_after_z(self, p, z, ckp1, beta1):
        p.lerp_(end=z, weight=ckp1)
        p.lerp_(end=z, weight=1.0 - beta1)

    @torch.no_grad()
    def eval(self):
        if self.train_mode:
            for group in self.param_groups:
                beta1 = group.get("beta1", self.beta1_init)
                for p in group["params"]:
                    state = self.state[p]
                    if "z" in state:
                        p.lerp_(end=state["z"], weight=1.0 - 1.0 / beta1)
        self.train_mode = False

    @torch.no_grad()
    def train(self):
        if not self.train_mode:
            for group in self.param_groups:
                beta1 = group.get("beta1", self.beta1_init)
                for p in group["params"]:
                    state = self.state[p]
                    if "z" in state:
                        p.lerp_(end=state["z"], weight=1.0 - beta1)
        self.train_mode = True

    @torch.no_grad()
    def step(self, closure=None):
        assert self.train_mode
        for group in self.param_groups:
            base_lr = group["base_lr"]
            k = group["k"]
            warmup_steps = group.get("warmup_steps", self.warmup_steps)
            t = k + 1
            sched = min(1.0, t / warmup_steps)
            lr = base_lr * sched
            group["lr"] = lr
            weight = (t**self.r) * (lr**self.weight_lr_power)
            future_weight_sum = group.get("weight_sum", 0.0) + weight
            ckp1 = weight / future_weight_sum if future_weight_sum > 0 else 1.0
            group["ckp1"] = ckp1
            group["weight_sum"] = future_weight_sum
            beta1 = self._compute_beta1(group, t, ckp1, warmup_steps)
            group["beta1"] = beta1
            wd = group.get("weight_decay", 0.0)
            self.beta1 = beta1
            update_type = group["update_type"]
            if update_type == "muon":
                beta_m = group["momentum"]
                aux_update_type = group.get("aux_update_type", "adamw")
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    z = self._pub_before_z(p, lr, beta1)
                    update = _pub_muon_update(
                        p.grad,
                        state["momentum_buffer"],
                        beta=beta_m,
                        aux_update_type=aux_update_type,
                        nesterov=True,
                        dtype=self.ns_dtype,
                    )
                    if wd != 0.0:
                        z.mul_(1.0 - lr * wd)
                    z.add_(update.reshape(p.shape), alpha=-lr)
                    self._pub_after_z(p, z, ckp1, beta1)
            elif update_type == "adamw":
                beta2 = group.get("beta2", 0.999)
                eps = group.get("eps", 1e-10)
                bias_correction2 = 1.0 - beta2**t
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    z = self._pub_before_z(p, lr, beta1)
                    v = state["exp_avg_sq"]
                    grad = p.grad
                    v.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
                    denom = v.div(bias_correction2).sqrt_().add_(eps)
                    update = grad / denom
                    if wd != 0.0:
                        update = update.add(z, alpha=wd)
                    z.add_(update, alpha=-lr)
                    self._pub_after_z(p, z, ckp1, beta1)
            elif update_type == "sgd":
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    z = self._pub_before_z(p, lr, beta1)
                    if wd != 0.0:
                        z.mul_(1.0 - lr * wd)
                    z.add_(p.grad, alpha=-lr)
                    self._pub_after_z(p, z, ckp1, beta1)
            group["k"] = k + 1


# a small two-layer problem: ½‖W2 tanh(W1 X + b) − T‖², W1 5×4 and W2 3×5 (Muon), b (aux)
_PR = np.random.default_rng(7)
_X, _T = _PR.standard_normal((4, 16)), _PR.standard_normal((3, 16))
_P0 = (
    0.5 * _PR.standard_normal((5, 4)),
    0.5 * _PR.standard_normal((3, 5)),
    0.1 * _PR.standard_normal(5),
)


def _mlp_loss(W1, W2, b, xp_tanh, X=_X, T=_T):
    H = xp_tanh(W1 @ X + b[:, None])
    R = W2 @ H - T
    return 0.5 * (R * R).sum()


def _amuse_setups(aux, dtype=torch.float64):
    """Fresh parameters and the two groups (matrices with Muon, the bias with ``aux``)."""
    ps = [torch.tensor(p, dtype=dtype, requires_grad=True) for p in _P0]
    groups = [
        dict(
            params=ps[:2],
            use_muon=True,
            lr=0.05,
            momentum=0.95,
            weight_decay=0.01,
            aux_update_type=aux,
        ),
        dict(params=ps[2:], use_muon=False, lr=0.02, update_type=aux, weight_decay=0.005),
    ]
    return ps, groups


def _run_torch(opt, ps, steps):
    opt.train()
    for _ in range(steps):
        opt.zero_grad()
        X, T = (torch.tensor(a, dtype=ps[0].dtype) for a in (_X, _T))
        _mlp_loss(*ps, torch.tanh, X, T).backward()
        opt.step()
    y = [p.detach().clone() for p in ps]
    opt.eval()
    x = [p.detach().clone() for p in ps]
    opt.train()
    back = [p.detach().clone() for p in ps]
    return y, x, back


AMUSE_KW = dict(beta1=0.6, rho=0.8, warmup_steps=20, r=0.0, weight_lr_power=2.0)


@pytest.mark.parametrize(
    "aux, wdy", [("adamw", 0.0), ("sgd", 0.0), ("adamw", 0.03)], ids=["adamw", "sgd", "adamw-wdy"]
)
def test_torch_amuse_matches_published_transcription(aux, wdy):
    """gflab.sims.bridge.optim.AMUSE against the authors' code (transcribed above) with float64
    Newton–Schulz, 200 steps (20 of warmup, 180 with the rising β): the same operations in the
    same order, so the parameters (y), eval() (x) and train() again agree to 1e-12 (they are in
    fact identical; 1e-12 leaves room for a BLAS that reorders a sum)."""
    from gflab.sims.bridge.optim import amuse_class

    ps1, g1 = _amuse_setups(aux)
    ps2, g2 = _amuse_setups(aux)
    ref = _PublishedAMUSE(g1, weight_decay_at_y=wdy, ns_dtype=torch.float64, **AMUSE_KW)
    ours = amuse_class()(g2, weight_decay_at_y=wdy, ns_dtype="float64", **AMUSE_KW)
    out1, out2 = _run_torch(ref, ps1, 200), _run_torch(ours, ps2, 200)
    diff = max(
        float((a - b).abs().max())
        for s1, s2 in zip(out1, out2, strict=True)
        for a, b in zip(s1, s2, strict=True)
    )
    assert diff <= 1e-12
    assert ours.beta1 == ref.beta1 > 0.9  # β after 180 post-warmup steps, from β₁ = 0.6


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_amuse_conv_kernel_is_the_published_bit_for_bit(dtype):
    """A 4-D kernel (6×3×3×3, Newton–Schulz on its 6×27 view) and a wide matrix in the Muon group
    ("sgd" shape scale), the bias with AdamW: 40 steps, the torch optimizer (the one Muon
    direction of theory.optim on torch tensors) bit-identical to the transcription, with the
    authors' bfloat16 Newton–Schulz on float32 and with float64 Newton–Schulz on float64."""
    from gflab.sims.bridge.optim import amuse_class

    dt = getattr(torch, dtype)
    ns = torch.bfloat16 if dt == torch.float32 else torch.float64
    gen = torch.Generator().manual_seed(2)
    X = torch.randn(16, 27, generator=gen, dtype=dt)

    def setup():
        g = torch.Generator().manual_seed(1)
        ps = [torch.randn(s, generator=g, dtype=dt) for s in ((6, 3, 3, 3), (4, 54), (4,))]
        ps = [p.requires_grad_(True) for p in ps]
        groups = [
            dict(params=ps[:2], use_muon=True, lr=0.05, weight_decay=0.01, aux_update_type="sgd"),
            dict(params=ps[2:], use_muon=False, lr=0.02, update_type="adamw", weight_decay=0.005),
        ]
        return ps, groups

    def run(opt, ps):
        opt.train()
        for _ in range(40):
            opt.zero_grad()
            h = torch.tanh(X @ ps[0].reshape(6, -1).T).repeat(1, 9)
            (h @ ps[1].T + ps[2]).pow(2).sum().backward()
            opt.step()
        return [p.detach().clone() for p in ps]

    (ps1, g1), (ps2, g2) = setup(), setup()
    ref = run(_PublishedAMUSE(g1, ns_dtype=ns, **AMUSE_KW), ps1)
    ours = run(amuse_class()(g2, ns_dtype=ns, **AMUSE_KW), ps2)
    assert all(torch.equal(a, b) for a, b in zip(ref, ours, strict=True))


@pytest.mark.parametrize(
    "aux, wdy", [("adamw", 0.0), ("sgd", 0.0), ("sgd", 0.03)], ids=["adamw", "sgd", "sgd-wdy"]
)
def test_theory_amuse_on_torch_matches_published_transcription(aux, wdy):
    """gflab.theory.schedule_free.AMUSE (its per-group base updates: MuonUpdate, AdamWUpdate,
    SGDUpdate) on torch float64 tensors against the authors' code (transcribed above, float64
    Newton–Schulz), 60 steps (20 of warmup), y and x: the same operations up to the Newton–Schulz
    kernel and the order of AdamW's (1 − β₂)·g·g, so ulps; tolerance 1e-12 (measured ≤ 1.3e-15)."""
    ps, groups = _amuse_setups(aux)
    ref = _PublishedAMUSE(groups, weight_decay_at_y=wdy, ns_dtype=torch.float64, **AMUSE_KW)
    ty, tx, _ = _run_torch(ref, ps, 60)
    opt = SF.AMUSE(
        lr=0.05,
        aux_lr=0.02,
        momentum=0.95,
        weight_decay=0.01,
        aux_weight_decay=0.005,
        weight_decay_at_y=wdy,
        aux_update_type=aux,
        **AMUSE_KW,
    )
    X, T = torch.tensor(_X), torch.tensor(_T)
    y = tuple(torch.tensor(p) for p in _P0)
    st = opt.init(y)
    for _ in range(60):
        yg = [p.clone().requires_grad_(True) for p in y]
        _mlp_loss(*yg, torch.tanh, X, T).backward()
        with torch.no_grad():
            u, st = opt.update(tuple(p.grad for p in yg), st, y)
            y = apply_updates(y, u)
    x = opt.average(y, st)
    diff = max(float((a - b).abs().max()) for a, b in zip((*ty, *tx), (*y, *x), strict=True))
    assert diff <= 1e-12


def test_torch_amuse_bfloat16_is_the_published_bit_for_bit():
    """With the authors' bfloat16 Newton–Schulz on float32 parameters (their default), 50 steps
    are bit-identical to the transcription: the same ops on the same dtypes."""
    from gflab.sims.bridge.optim import amuse_class

    ps1, g1 = _amuse_setups("adamw", torch.float32)
    ps2, g2 = _amuse_setups("adamw", torch.float32)
    out1 = _run_torch(_PublishedAMUSE(g1, **AMUSE_KW), ps1, 50)
    out2 = _run_torch(amuse_class()(g2, **AMUSE_KW), ps2, 50)
    assert all(
        torch.equal(a, b)
        for s1, s2 in zip(out1, out2, strict=True)
        for a, b in zip(s1, s2, strict=True)
    )


def test_amuse_schedule_closed_form():
    """r = 0, p = 2, constant lr after a linear warmup of T₀ steps: c_w = T₀²/Σ_{t≤T₀} t², then
    c_t = 1/(1/c_w + t − T₀), and β_t = 1 − ((1/c_w − 1)/(1/c_t − 1))^ρ (1 − β₁) (the S_t of the
    docstring with these c's). With β₁ = 0.6, ρ = 0.8, T₀ = 100 (the authors' LM script's β₁ and ρ):
    β = 0.6 / 0.973 / 0.989 at t = 100 / 1000 / 3000."""
    W, b1, rho = 100, 0.6, 0.8
    sch = SF.amuse_schedule(3000, lr=0.01, warmup_steps=W, beta1=b1, rho=rho)
    t = np.arange(1, 3001)
    inv_cw = sum(j * j for j in range(1, W + 1)) / W**2
    inv_c = np.where(t <= W, np.nan, inv_cw + t - W)
    beta = np.where(t <= W, b1, 1 - ((inv_cw - 1) / (inv_c - 1)) ** rho * (1 - b1))
    np.testing.assert_allclose(sch["beta"], beta, rtol=1e-12)  # a few ulps of ~1/c sums
    np.testing.assert_allclose(sch["lr"], 0.01 * np.minimum(1, t / W), rtol=1e-15)
    # the values quoted for the published schedule, to their printed digits
    np.testing.assert_allclose(sch["beta"][[99, 999, 2999]], [0.6, 0.97, 0.989], atol=5e-3)
    flat = SF.amuse_schedule(300, lr=0.01, warmup_steps=W, beta1=b1, rho=0.0)
    assert np.all(flat["beta"] == b1)  # ρ = 0: S^0 = 1, β stays β₁ (Schedule-Free Muon)


def test_jax_amuse_equals_torch():
    """gflab.theory.schedule_free.AMUSE on JAX float64 arrays against the torch optimizer (float64
    Newton–Schulz) on the same problem, 200 steps: different matrix-product kernels (XLA vs
    torch's BLAS) and norm reductions round differently, by ulps per step, and the trajectory
    carries them along: measured max 2.0e-15 on parameters of size ~1 (tolerance 1e-13, 50× that)."""
    import jax
    import jax.numpy as jnp

    from gflab.sims.bridge.optim import amuse_class

    assert jax.config.jax_enable_x64
    ps, groups = _amuse_setups("adamw")
    topt = amuse_class()(groups, ns_dtype="float64", **AMUSE_KW)
    ty, tx, _ = _run_torch(topt, ps, 200)
    opt = SF.AMUSE(
        lr=0.05, aux_lr=0.02, momentum=0.95, weight_decay=0.01, aux_weight_decay=0.005, **AMUSE_KW
    )
    grad = jax.jit(jax.grad(lambda p: _mlp_loss(*p, jnp.tanh)))
    y = tuple(jnp.asarray(p) for p in _P0)
    st = opt.init(y)
    for _ in range(200):
        u, st = opt.update(tuple(grad(y)), st, y)
        y = apply_updates(y, u)
    x = opt.average(y, st)
    diff = max(
        float(np.max(np.abs(np.asarray(b) - a.numpy())))
        for a, b in zip((*ty, *tx), (*y, *x), strict=True)
    )
    assert diff <= 1e-13
    np.testing.assert_allclose(opt.point(x, st)[0], y[0], atol=1e-14)  # train() inverts eval()


AMUSE_BAD_FLAGS = [
    (["simulate", "river", "--rho", "-1"], "rho"),
    (["simulate", "river", "--beta1", "0"], "beta1"),
    (["simulate", "river", "--warmup-steps", "2000"], "warmup_steps"),
    (["simulate", "river", "--aux-update-type", "lion"], "aux_update_type"),
    (["bridge", "lora", "--optimizer", "muon", "--beta1", "0.5"], "beta1"),
    (["bridge", "lora", "--optimizer", "amuse", "--ns-dtype", "float16"], "ns_dtype"),
    (["bridge", "lora", "--optimizer", "amuse", "--warmup-steps", "0"], "warmup_steps"),
]


@pytest.mark.parametrize(
    ("argv", "parameter"), AMUSE_BAD_FLAGS, ids=[" ".join(a) for a, _ in AMUSE_BAD_FLAGS]
)
def test_amuse_flags_refused_in_one_line(capsys, argv, parameter):
    """AMUSE's published hyper-parameters on ``simulate river`` and ``bridge lora``: a bad value
    (or one given to another optimizer) is one line naming the parameter, exit 2, before any run."""
    from gflab.cli import main

    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"error: {parameter}: expected" in err, err
