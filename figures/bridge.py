"""Figures for the PyTorch bridge: SGF's equal-rate prediction against real LoRA runs."""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from gflab.figures import style
from gflab.figures.registry import register

OPTIMIZERS = ("muon", "adamw")
GPU_RECORD = dict(model="minilm", steps=300, every=10, device="cuda")


def _configs(ctx):
    """(GPU-record configs, CPU fallback configs) per optimizer, for the seeds shown."""
    from gflab.sims.bridge.lora_run import BridgeLoRAConfig

    seeds = (0,) if ctx.fast else (0, 1)
    cpu = dict(model="tiny", steps=60 if ctx.fast else 150, every=5, device="cpu")
    gpu = {
        o: [BridgeLoRAConfig(optimizer=o, seed=s, **GPU_RECORD) for s in seeds] for o in OPTIMIZERS
    }
    cpu = {o: [BridgeLoRAConfig(optimizer=o, seed=s, **cpu) for s in seeds] for o in OPTIMIZERS}
    return gpu, cpu


def _runs(ctx):
    """Stored GPU runs when every one is present, else CPU tiny-model runs (stored for reuse)."""
    import torch

    from gflab.sims.bridge.lora_run import run_lora
    from gflab.sims.bridge.record import load_run, store_run

    gpu, cpu = _configs(ctx)
    if ctx.store is not None:
        found = {
            o: [load_run(ctx.store, c.to_dict(), torch.__version__) for c in cs]
            for o, cs in gpu.items()
        }
        if all(r is not None for rs in found.values() for r in rs):
            for cs in gpu.values():
                ctx.configs.extend(c.to_dict() for c in cs)
            return found, "stored GPU record"
    out = {}
    for o, cs in cpu.items():
        out[o] = []
        for c in cs:
            ctx.configs.append(c.to_dict())
            run = None if ctx.store is None else load_run(ctx.store, c.to_dict(), torch.__version__)
            if run is None:
                run = run_lora(c)
                if ctx.store is not None:
                    store_run(ctx.store, run)
            out[o].append(run)
    return out, "CPU run of the tiny model (no stored GPU record)"


def _normalised(run):
    """σ_i/σ_1 of s·B A (T×r, averaged over modules) and the equal-rate prediction from burn-in.

    Prediction (docs/theory.md §2.2, SGF-1): every mode's √σ_i grows linearly with one common slope c̄
    (the mean of the fitted slopes), from its measured value at the burn-in step t0:
    √σ_i(t) = √σ_i(t0) + c̄ (t − t0).
    """
    steps = np.asarray(run["steps"], dtype=float)
    t0 = run["config"]["burn_in"]
    i0 = int(np.searchsorted(steps, t0))
    meas, pred = [], []
    for m in run["modules"].values():
        s = np.asarray(m["singular_values"])
        top = np.where(s[:, :1] > 0, s[:, :1], 1.0)  # s·B A = 0 at LoRA's start: ratio 0
        meas.append(s / top)
        c = float(np.mean(m["growth_slopes"]))
        root = np.sqrt(s[i0]) + c * (steps[i0:, None] - steps[i0])
        p = root**2
        pred.append(p / p[:, :1])
    return steps, np.mean(meas, axis=0), steps[i0:], np.mean(pred, axis=0)


@register(
    "bridge_lora_spectra",
    title="LoRA fine-tuning: normalised singular values of s·B A, Muon vs AdamW, against SGF",
    paper="SGF",
)
def _lora_spectra(ctx):
    """σ_i(s·B A)/σ_1 over training steps (mean over LoRA modules and seeds), Muon vs AdamW.

    Dashed: SGF's equal-rate prediction (every √σ_i grows at one common slope after the burn-in).
    Measured on the tiny model: Muon keeps every mode growing (effective rank near r) though its
    slopes differ (spread ≈ 0.9, 0 would be equal rates); AdamW collapses to rank ≈ 1.
    """
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap

    style.apply()
    runs, source = _runs(ctx)
    fig, axes = style.subplots(1, 2, aspect=0.42, sharey=True)
    meta = {"source": source, "seeds": [], "equal_rate_spread": {}, "effective_rank_final": {}}
    r = 1
    for ax, opt in zip(axes, OPTIMIZERS, strict=True):
        rs = runs[opt]
        parts = [_normalised(r_) for r_ in rs]
        steps, tp = parts[0][0], parts[0][2]
        keep = steps > 0  # step 0: s·B A = 0 for LoRA's init, no spectrum to normalise
        meas = np.mean([p[1] for p in parts], axis=0)
        pred = np.mean([p[3] for p in parts], axis=0)
        r = meas.shape[1]
        colors = plt.cm.viridis(np.linspace(0.0, 0.9, r))
        for i in range(r):
            ax.plot(steps[keep], meas[keep, i], color=colors[i], zorder=3)
            ax.plot(tp, pred[:, i], color=colors[i], lw=0.8, ls=(0, (3, 2)), zorder=2)
        ax.axvline(rs[0]["config"]["burn_in"], color="0.5", lw=0.8, ls=":")
        spread = float(np.mean([r_["summary"]["equal_rate_spread"] for r_ in rs]))
        erank = float(np.mean([r_["summary"]["effective_rank_final"] for r_ in rs]))
        meta["equal_rate_spread"][opt] = spread
        meta["effective_rank_final"][opt] = erank
        meta["seeds"] = [r_["config"]["seed"] for r_ in rs]
        c = rs[0]["config"]
        name = {"muon": "Muon", "adamw": "AdamW"}.get(opt, opt)
        ax.set_title(f"{name} (lr {c['lr']:g})\nslope spread {spread:.2f}, eff. rank {erank:.2f}")
        ax.set_xlabel("training step")
        ax.set_xlim(0, steps[-1])
        ax.set_ylim(-0.03, 1.05)
    axes[0].set_ylabel(r"$\sigma_i(sBA) \,/\, \sigma_1(sBA)$")
    # every mode is named: a discrete colour bar for the mode index i instead of a legend
    cmap = ListedColormap(plt.cm.viridis(np.linspace(0.0, 0.9, r)))
    norm = BoundaryNorm(np.arange(0.5, r + 1.5), r)
    cb = fig.colorbar(ScalarMappable(norm, cmap), ax=axes, ticks=range(1, r + 1), aspect=25)
    cb.set_label("mode $i$ (colour)")
    style.legend_below(
        fig,
        [
            Line2D([], [], color="k"),
            Line2D([], [], color="k", lw=0.8, ls=(0, (3, 2))),
            Line2D([], [], color="0.5", lw=0.8, ls=":"),
        ],
        ["measured", "SGF equal-rate prediction", "burn-in step"],
        ncol=3,
    )
    c = runs["muon"][0]["config"]
    style.footer(
        fig,
        f"{source}: model {c['model']}, rank {c['rank']}, modules "
        f"{','.join(c['modules'])}, init {c['init']}, {c['steps']} steps, probe "
        f"every {c['every']}, seeds {meta['seeds']}; mean over modules and seeds; "
        "prediction: √σ_i(t) = √σ_i(t0) + c̄ (t − t0), c̄ the mean fitted slope",
    )
    meta["device"] = runs["muon"][0]["device"]
    meta["torch_version"] = runs["muon"][0]["torch_version"]
    return fig, meta
