"""Every authors' protocol one flag away (docs/reproduce-the-authors.md): per-model help, files of
masks, targets and initial factors, Kleinman's critical-period command, DASH's loss reduction."""

from __future__ import annotations

import re

import numpy as np
import pytest
from shared_cases import assert_arrays_close

from gflab.cli import main
from gflab.sims.methods import GD
from gflab.theory import dmf as D
from gflab.theory import lora as L

# ----------------------------------------------------------------------------- help per model


def _init_help(model: str, capsys) -> str:
    with pytest.raises(SystemExit):
        main(["simulate", model, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    return re.search(r"--init INIT (.*?) \(default: ", text).group(1)


def _names(help_text: str) -> set[str]:
    """The init names a help line offers: the first word of each ``|``-separated choice."""
    return {choice.split()[0] for choice in help_text.split("|")}


@pytest.mark.parametrize(
    "model,accepted",
    [
        ("lora", L.INIT_NAMES),
        ("dmf", D.INIT_NAMES),
        ("dmf-plasticity", D.INIT_NAMES),
        ("dmf-dash", D.INIT_NAMES),
    ],
)
def test_init_help_lists_what_the_model_accepts(model, accepted, capsys):
    """``--init``'s help offers exactly the names the model's init function accepts."""
    assert _names(_init_help(model, capsys)) == set(accepted)


# ----------------------------------------------------------------------------- DASH's reduction


def authors_dash(factors, batches, target, alpha, floor):
    """The authors' ``dash()`` (baekrok/DASH ``utils/train_utils.py``), transcribed for the
    factors of a deep matrix factorisation as bias-free Linear layers (weight rows = neurons),
    in torch float64: per batch the gradient of their criterion, a *mean* over the batch's
    samples (here the observed entries of the batch, per-entry loss ½R²); g ← (1 − α)g + α(−∇);
    then each row times clamp(cos(g_row, w_row), λ, 1)."""
    import torch

    torch.set_num_threads(1)
    temp = [torch.tensor(f, requires_grad=True) for f in factors]
    grads = [torch.zeros_like(w) for w in temp]
    tgt = torch.tensor(target)
    for b in batches:
        bt = torch.tensor(b)
        for w in temp:
            w.grad = None
        W = temp[0]
        for w in temp[1:]:
            W = w @ W  # W = W_L ⋯ W_1
        loss = (0.5 * bt * (W - tgt) ** 2).sum() / bt.sum()
        loss.backward()
        grads = [
            (1 - alpha) * g + alpha * (-w.grad.detach()) for g, w in zip(grads, temp, strict=True)
        ]
    out = []
    with torch.no_grad():
        for f, g in zip(factors, grads, strict=True):
            w = torch.tensor(f)
            cos = torch.cosine_similarity(g, w, dim=-1)
            out.append((w * torch.clamp(cos, min=floor, max=1)[:, None]).numpy())
    return out


@pytest.fixture(scope="module")
def dash_case():
    rng = np.random.default_rng(5)
    n, depth = 6, 3
    target = rng.standard_normal((n, 2)) @ rng.standard_normal((n, 2)).T
    mask2 = (rng.random((n, n)) < 0.7).astype(float)
    mask1 = mask2 * (rng.random((n, n)) < 0.4)
    factors = [0.5 * rng.standard_normal((n, n)) for _ in range(depth)]
    return factors, mask1, mask2, target


@pytest.mark.parametrize("alpha", [0.3, 0.7])
def test_dash_mean_reduction_is_the_authors(dash_case, alpha):
    """gflab's DASH with ``reduction="mean"`` equals the transcription of the authors' loop (float64:
    the gradients are summed in another order, so equal to 1e-12 relative; measured ~1e-16),
    and differs from gflab's default ``sum`` when the batches differ in size (α < 1: at α = 1
    only the last batch counts and the scale-free cosine hides the reduction)."""
    from gflab.sims.dash import Intervention, intervene

    factors, mask1, mask2, target = dash_case
    batches = [mask1 * mask2, mask2 * (1 - mask1)]
    want = authors_dash(factors, batches, target, alpha, 0.3)
    iv = Intervention("dash", floor=0.3, alpha=alpha, reduction="mean")
    got, _ = intervene(iv, factors, factors, mask1, mask2, target)
    assert_arrays_close(got, want, rtol=1e-12, atol=1e-14)
    summed, _ = intervene(
        Intervention("dash", floor=0.3, alpha=alpha), factors, factors, mask1, mask2, target
    )
    gap = max(np.max(np.abs(s - w)) for s, w in zip(summed, want, strict=True))
    print(f"sum vs mean at alpha={alpha}: {gap:.3g}")
    assert gap > 1e-3, gap  # the reduction matters here (|Ω1| ≠ |Ω2 ∖ Ω1|)


# ----------------------------------------------------------------------------- plasticity by file


def stop_gd(factors, mask, target, lr, stop):
    """GD on the [DMC] authors' loss Σ_Ω R²/n² (their ``.mean()``), W = W_L ⋯ W_1, stopped before
    the first step whose pre-step loss is ≤ ``stop`` (gflab's count = their epochs − 1).
    Returns (steps, factors)."""
    F = [np.array(f) for f in factors]
    n = mask.shape[0]
    for k in range(10**6):
        prods = [np.eye(n)]
        for f in F:
            prods.append(f @ prods[-1])  # prods[l] = W_l ⋯ W_1
        R = mask * (prods[-1] - target)
        if np.sum(R**2) / n**2 <= stop:
            return k, F
        G = 2 * R / n**2
        grads = []
        for i in range(len(F)):
            left = np.eye(n)
            for f in F[i + 1 :]:
                left = f @ left  # W_L ⋯ W_{l+1}
            grads.append(left.T @ G @ prods[i].T)
        F = [f - lr * g for f, g in zip(F, grads, strict=True)]
    raise AssertionError("no stop")


@pytest.fixture(scope="module")
def plasticity_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("plasticity")
    rng = np.random.default_rng(1)
    n = 6
    target = rng.standard_normal((n, 2)) @ rng.standard_normal((n, 2)).T
    mask2 = (rng.random((n, n)) < 0.6).astype(float)
    mask1 = mask2 * (rng.random((n, n)) < 0.6)
    init = {f"W{i}": 0.3 * rng.standard_normal((n, n)) for i in (1, 2)}
    np.save(d / "target.npy", target)
    np.save(d / "mask2.npy", mask2)
    np.save(d / "mask1.npy", mask1)
    np.savez(d / "init.npz", **init)
    return d, target, mask1, mask2, [init["W1"], init["W2"]]


def _plasticity_argv(d, model="dmf-plasticity"):
    return [
        "simulate",
        model,
        "--depth=2",
        "--n=6",
        f"--init-file={d / 'init.npz'}",
        f"--mask-file={d / 'mask2.npy'}",
        f"--pretrain-mask-file={d / 'mask1.npy'}",
        f"--target-file={d / 'target.npy'}",
        "--normalisation=full-mean",
        "--stop-loss=1e-5",
        "--method=gd:0.2",
        "--json",
    ]


def test_plasticity_from_files_until_stop_loss(plasticity_files, capsys):
    """dmf-plasticity with every input from a file and the authors' stop rule in each phase:
    the three phases equal a NumPy GD loop (steps exactly; factors' singular values to 1e-10
    relative: the same float64 arithmetic in another summation order over ~1e3 steps)."""
    import json

    d, target, mask1, mask2, init = plasticity_files
    assert main(_plasticity_argv(d)) == 0
    doc = json.loads(capsys.readouterr().out)
    k1, F1 = stop_gd(init, mask1, target, 0.2, 1e-5)
    k2, F2 = stop_gd(F1, mask2, target, 0.2, 1e-5)
    k3, F3 = stop_gd(init, mask2, target, 0.2, 1e-5)
    want = {"pretrain": (k1, F1), "resumed": (k2, F2), "scratch": (k3, F3)}
    got = {phase: (doc[phase]["status"], doc[phase]["time"]) for phase in want}
    assert got == {phase: ("converged", k) for phase, (k, _) in want.items()}
    assert_arrays_close(
        [doc[phase]["singular_values"] for phase in want],
        [np.linalg.svd(F[1] @ F[0], compute_uv=False) for _, F in want.values()],
        rtol=1e-10,
        atol=1e-13,
    )


def test_dash_from_files_shares_the_plasticity_phases(
    plasticity_files, capsys, tmp_path, monkeypatch
):
    import json

    monkeypatch.setenv("GFLAB_STORE", str(tmp_path / "store"))
    d = plasticity_files[0]
    assert main(_plasticity_argv(d)) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(_plasticity_argv(d, "dmf-dash") + ["--dash-reduction=mean"]) == 0
    dash = json.loads(capsys.readouterr().out)
    assert dash["intervention"]["reduction"] == "mean"
    phases = ("pretrain", "resumed", "scratch")
    assert [dash[p]["time"] for p in phases] == [plain[p]["time"] for p in phases]
    np.testing.assert_array_equal(
        [dash[p]["singular_values"] for p in phases], [plain[p]["singular_values"] for p in phases]
    )


@pytest.mark.parametrize("field", ["mask_file", "pretrain_mask_file", "target_file", "init_file"])
def test_file_contents_enter_the_plasticity_key(plasticity_files, tmp_path, field):
    """Rewriting one entry of one file, under the same path, changes the key (the content's
    sha256 is in ``to_dict``)."""
    from gflab.sims.plasticity import PlasticityConfig

    d = plasticity_files[0]
    files = {
        "mask_file": "mask2.npy",
        "pretrain_mask_file": "mask1.npy",
        "target_file": "target.npy",
        "init_file": "init.npz",
    }
    for name in files.values():
        (tmp_path / name).write_bytes((d / name).read_bytes())
    cfg = dict(depth=2, n=6, method=GD(lr=0.2), stop_loss=1e-5)
    cfg.update({k: str(tmp_path / v) for k, v in files.items()})
    key = PlasticityConfig(**cfg).key()
    path = tmp_path / files[field]
    if path.suffix == ".npz":
        arrays = dict(np.load(path))
        arrays["W2"][0, 0] += 1e-3
        np.savez(path, **arrays)
    else:
        arr = np.load(path)
        arr[0, 0] = 1.0 - arr[0, 0] if "mask" in field else arr[0, 0] + 1e-3
        np.save(path, arr)
    assert PlasticityConfig(**cfg).key() != key


# ----------------------------------------------------------------------------- --init-file


def test_lora_init_file_is_the_same_start(tmp_path, capsys):
    """--init-file holding the factors --init gaussian draws gives the same run, bit for bit."""
    import json

    A, B = L.make_init("gaussian", 10, 12, 3, 0.1, 3)
    np.savez(tmp_path / "ab.npz", A=A, B=B)
    common = ["simulate", "lora", "--rows=10", "--cols=12", "--rank=3", "--target-svals=1,4,16"]
    common += ["--gamma=0.1", "--seed=3", "--method=muon:0.02", "--steps=20", "--json"]
    assert main(common + ["--init=gaussian"]) == 0
    drawn = json.loads(capsys.readouterr().out)
    assert main(common + [f"--init-file={tmp_path / 'ab.npz'}"]) == 0
    filed = json.loads(capsys.readouterr().out)
    assert filed["config"]["init"] == "file" and "init_sha256" in filed["config"]
    np.testing.assert_array_equal(filed["final"]["matrix"], drawn["final"]["matrix"])


def _bad_npz(tmp_path, case):
    n = 4
    good = {"W1": np.eye(n), "W2": np.eye(n)}
    arrays = {
        "shape": {"W1": np.eye(n), "W2": np.eye(n + 1)},
        "missing": {"W1": np.eye(n)},
        "nonfinite": {"W1": np.eye(n), "W2": np.full((n, n), np.inf)},
        "extra": {**good, "W3": np.eye(n)},
    }.get(case)
    path = tmp_path / f"{case}.npz"
    if case == "not-npz":
        path.write_text("not an archive")
    elif arrays is not None:
        np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("case", ["shape", "missing", "nonfinite", "extra", "not-npz", "absent"])
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_bad_init_file_is_one_line(tmp_path, capsys, case, as_json):
    """A bad --init-file: exit 2 and one line naming init_file (stderr, or JSON with --json)."""
    import json

    path = _bad_npz(tmp_path, case)
    argv = ["simulate", "dmf", "--depth=2", "--n=4", f"--init-file={path}", "--t1=1"]
    assert main(argv + (["--json"] if as_json else [])) == 2
    cap = capsys.readouterr()
    if as_json:
        assert json.loads(cap.out)["error"]["parameter"] == "init_file"
    else:
        lines = cap.err.strip().splitlines()
        assert len(lines) == 1 and "error: init_file:" in lines[0], cap.err


# ----------------------------------------------------------------------------- Kleinman


def authors_kleinman(
    n, rank, n1, n2, depth, seed, t_critical, epoch_continue, lr, init_scale, dtype
):
    """Kleinman et al.'s ``main-num-examples.py`` (mjkleinman/CriticalPeriodDeepLinearNets,
    ``matrixcompletion/``), transcribed with its ``model_utils`` helpers: their seeding, truth,
    observations, Gaussian init and SGD loop; the parameters are cast to ``dtype`` after their
    float32 init. Returns their ``losses_critical`` (the test loss of each T_c)."""
    import torch
    from torch import nn

    torch.set_num_threads(1)

    legacy = None

    def set_seed(s):
        # their np.random.seed(s) then np.random.randn: the legacy stream of RandomState(s),
        # kept local here so the test leaves NumPy's global generator alone
        nonlocal legacy
        legacy = np.random.RandomState(s)  # noqa: NPY002
        torch.manual_seed(s)

    def get_e2e(model):
        weight = None
        for fc in model.children():
            weight = fc.weight.t() if weight is None else fc(weight)
        return weight

    set_seed(seed)
    U = legacy.randn(n, rank).astype(np.float32)
    V = legacy.randn(n, rank).astype(np.float32)
    w_gt = U.dot(V.T) / np.sqrt(rank)
    w_gt = torch.from_numpy(w_gt / np.linalg.norm(w_gt, "fro") * n).to(dtype)
    indices = torch.multinomial(torch.ones(n * n), n2, replacement=False)
    us, vs = indices // n, indices % n
    ys_, us_def, vs_def = w_gt[us, vs], us[:n1], vs[:n1]
    ys_def_ = w_gt[us_def, vs_def]
    losses = []
    for T_critical in t_critical:
        model = nn.Sequential(*[nn.Linear(n, n, bias=False) for _ in range(depth)])
        set_seed(seed)
        for param in model.parameters():
            nn.init.normal_(param, std=init_scale ** (1.0 / depth) * n**-0.5)
        model = model.to(dtype)
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        for T in range(T_critical + epoch_continue):
            e2e = get_e2e(model)
            loss = 0.5 * (e2e[us, vs] - ys_).pow(2).mean()
            loss_def = 0.5 * (e2e[us_def, vs_def] - ys_def_).pow(2).mean()
            loss = loss if T > T_critical else loss_def
            opt.zero_grad()
            loss.backward()
            with torch.no_grad():
                test_loss = (w_gt - e2e).view(-1).pow(2).mean()
            opt.step()
        losses.append(test_loss.item())
    return losses


KLEINMAN_TINY = dict(n=8, rank=2, n1=20, n2=36, depth=3, seed=1, lr=0.2, init_scale=0.1)
KLEINMAN_TC, KLEINMAN_POST = (0, 3, 40), 60


def _kleinman(capsys, *extra):
    import json

    k = KLEINMAN_TINY
    argv = ["simulate", "kleinman", *(f"--{f.replace('_', '-')}={v}" for f, v in k.items())]
    argv += ["--t-c=" + ",".join(map(str, KLEINMAN_TC)), f"--post-steps={KLEINMAN_POST}"]
    assert main([*argv, *extra, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def kleinman_theirs():
    import torch

    k = {**KLEINMAN_TINY}
    return {
        dt: authors_kleinman(
            k["n"],
            k["rank"],
            k["n1"],
            k["n2"],
            k["depth"],
            k["seed"],
            KLEINMAN_TC,
            KLEINMAN_POST,
            k["lr"],
            k["init_scale"],
            dt,
        )
        for dt in (torch.float64, torch.float32)
    }


def test_kleinman_their_draw_and_schedule_is_their_loop(kleinman_theirs, capsys):
    """``gflab simulate kleinman`` (their draw, their schedule) = their loop run in float64 to
    1e-12 relative (the same GD in another summation order over 100 steps; measured 1.3e-16),
    and their float32 loop to its float32 level (measured 2.5e-7 relative; bound 5e-6)."""
    import torch

    doc = _kleinman(capsys)
    assert doc["phase1_steps"] == [tc + 1 for tc in KLEINMAN_TC]
    assert doc["phase2_steps"] == KLEINMAN_POST - 2
    np.testing.assert_allclose(doc["test_error"], kleinman_theirs[torch.float64], rtol=1e-12)
    np.testing.assert_allclose(doc["test_error"], kleinman_theirs[torch.float32], rtol=5e-6)


def test_kleinman_gflab_schedule_is_not_theirs(kleinman_theirs, capsys):
    """gflab's schedule (T_c, post) differs from their loop by more than rounding: the schedule
    flag matters."""
    import torch

    doc = _kleinman(capsys, "--schedule=gflab")
    assert doc["phase1_steps"] == list(KLEINMAN_TC) and doc["phase2_steps"] == KLEINMAN_POST
    gap = np.max(np.abs(np.subtract(doc["test_error"], kleinman_theirs[torch.float64])))
    assert gap > 1e-6, gap


def test_kleinman_problem_file_is_the_same_run(capsys, tmp_path):
    """Their draw written to a file and read back with --problem-file gives the same numbers."""
    from gflab.sims.kleinman import KleinmanScale, kleinman_authors_problem

    k = KLEINMAN_TINY
    sc = KleinmanScale(
        n=k["n"], rank=k["rank"], n1=k["n1"], n2=(k["n2"],), init_scale=k["init_scale"]
    )
    factors, target, order = kleinman_authors_problem(sc, k["depth"], k["seed"], k["n2"])
    np.savez(
        tmp_path / "p.npz",
        target=target,
        order=order,
        **{f"W{i + 1}": f for i, f in enumerate(factors)},
    )
    drawn = _kleinman(capsys)
    filed = _kleinman(capsys, f"--problem-file={tmp_path / 'p.npz'}")
    assert "problem_sha256" in filed["config"]
    np.testing.assert_array_equal(filed["test_error"], drawn["test_error"])


@pytest.mark.parametrize(
    "extra,parameter",
    [
        (["--schedule=theirs"], "schedule"),
        (["--draw=torch"], "draw"),
        (["--t-c=0,2.5"], "t_c"),
        (["--n2=900"], "n1/n2"),  # N1 = 1000 > N2
        (["--post-steps=1"], "post_steps"),
        (["--n=100000000"], "n"),  # the factors cannot fit: refused before any allocation
        (["--depth=0"], "depth"),
        (["--problem-file=/nonexistent/p.npz"], "problem_file"),
    ],
)
def test_kleinman_bad_input_is_one_line(capsys, extra, parameter):
    assert main(["simulate", "kleinman", *extra]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"error: {parameter}:" in lines[0], lines


@pytest.mark.parametrize("which", ["dmf-plasticity", "kleinman"])
def test_commands_rebuild_file_configs(plasticity_files, which):
    """``gflab.sims.schema.command`` writes a command whose flags rebuild the config exactly (files
    included: the names they replace are left to the file flags)."""
    import shlex

    from gflab.sims.kleinman import KleinmanConfig
    from gflab.sims.plasticity import PlasticityConfig
    from gflab.sims.schema import command_args, config_from_args, params

    d = plasticity_files[0]
    if which == "dmf-plasticity":
        cfg = PlasticityConfig(
            depth=2,
            n=6,
            method=GD(lr=0.2),
            stop_loss=1e-5,
            mask_file=str(d / "mask2.npy"),
            pretrain_mask_file=str(d / "mask1.npy"),
            target_file=str(d / "target.npy"),
            init_file=str(d / "init.npz"),
        )
    else:
        cfg = KleinmanConfig(depth=2, n=30, rank=2, n1=135, n2=270, t_c=(0, 1000), post_steps=3000)
    argv = command_args(cfg)
    table = {p.flag: p for p in params(cfg.model)}
    parse = {"floats": lambda r: tuple(map(float, r.split(","))), "int": int, "float": float}
    values = {}
    for flag, raw in zip(argv[1::2], argv[2::2], strict=True):
        p = table[flag]
        values[p.name] = parse.get(p.kind, str)(raw)
    assert config_from_args(cfg.model, values) == cfg, shlex.join(argv)
