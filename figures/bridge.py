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


def _sqrt_spectra(run):
    """√σ_i(s·B A) (T×r, mean over modules) and the equal-rate law from the burn-in step t0.

    The law (docs/theory.md §2.2, SGF-1): every active mode's √σ_i grows linearly in time with
    one common slope. Drawn from each mode's measured value at t0 with the common slope c̄ = the
    mean of the modes' fitted slopes (:func:`gflab.sims.bridge.probes.growth_fits`), per module:
    √σ_i(t) = √σ_i(t0) + c̄ (t − t0); parallel lines. Returns (steps, measured, steps ≥ t0,
    law, the fitted slopes T×r averaged over modules).
    """
    steps = np.asarray(run["steps"], dtype=float)
    t0 = run["config"]["burn_in"]
    i0 = int(np.searchsorted(steps, t0))
    meas, law, slopes = [], [], []
    for m in run["modules"].values():
        root = np.sqrt(np.maximum(np.asarray(m["singular_values"], dtype=float), 0.0))
        c = np.asarray(m["growth_slopes"], dtype=float)
        meas.append(root)
        law.append(root[i0] + float(np.mean(c)) * (steps[i0:, None] - steps[i0]))
        slopes.append(c)
    return steps, np.mean(meas, 0), steps[i0:], np.mean(law, 0), np.mean(slopes, 0)


@register(
    "bridge_lora_spectra",
    title="LoRA fine-tuning: √σ_i of s·B A over training, Muon vs AdamW, against SGF's equal rate",
    paper="SGF",
    regenerates="[SGF] the motivating observation (near-uniform growth of the LoRA product's singular values under Muon in LLM fine-tuning, AdamW for contrast) at toy scale: a tiny BERT on CPU (or a stored MiniLM GPU record), not the paper's LLMs and tasks",
)
def _lora_spectra(ctx):
    """√σ_i(s·B A) over training steps (mean over LoRA modules and seeds), Muon vs AdamW.

    Dashed: SGF's equal-rate law drawn from each mode's value at the burn-in step with one common
    slope (the mean of the modes' fitted slopes): equal rates would make the solid lines parallel
    to these. The figure says which run it shows: without a stored GPU record of MiniLM (300
    steps) it is the CPU run of the tiny model (2 layers, hidden 64; ``--fast``: 1 seed × 60
    steps, else 2 seeds × 150 steps). Measured there: Muon grows every mode but not at one rate
    (2 × 150: slopes 0.014–0.032 per step, spread 0.89; 1 × 60: 0.009–0.032, spread 1.17; 0
    would be equal rates); AdamW grows one mode (spread 6.1 and 5.5)."""
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap

    style.apply()
    runs, source = _runs(ctx)
    fig, axes = style.subplots(1, 2, aspect=0.46, sharey=True)
    meta = {"source": source, "seeds": [], "equal_rate_spread": {}, "effective_rank_final": {}}
    r, top = 1, 0.0
    for ax, opt in zip(axes, OPTIMIZERS, strict=True):
        rs = runs[opt]
        parts = [_sqrt_spectra(r_) for r_ in rs]
        steps, tl = parts[0][0], parts[0][2]
        meas = np.mean([p[1] for p in parts], axis=0)
        law = np.mean([p[3] for p in parts], axis=0)
        slopes = np.mean([p[4] for p in parts], axis=0)
        r = meas.shape[1]
        colors = plt.cm.viridis(np.linspace(0.0, 0.9, r))
        for i in range(r):
            ax.plot(steps, meas[:, i], color=colors[i], zorder=3)
            ax.plot(tl, law[:, i], color=colors[i], lw=0.8, ls=(0, (3, 2)), zorder=2)
        ax.axvline(rs[0]["config"]["burn_in"], color="0.5", lw=0.8, ls=":")
        spread = float(np.mean([r_["summary"]["equal_rate_spread"] for r_ in rs]))
        erank = float(np.mean([r_["summary"]["effective_rank_final"] for r_ in rs]))
        meta["equal_rate_spread"][opt] = spread
        meta["effective_rank_final"][opt] = erank
        meta["slopes"] = {**meta.get("slopes", {}), opt: slopes.tolist()}
        meta["seeds"] = [r_["config"]["seed"] for r_ in rs]
        c = rs[0]["config"]
        name = {"muon": "Muon", "adamw": "AdamW"}.get(opt, opt)
        ax.set_title(
            f"{name} (lr {c['lr']:g}): slopes {slopes.min():.3f}–{slopes.max():.3f}/step\n"
            f"spread {spread:.2f} (0: equal rate), eff. rank {erank:.1f} of {r}"
        )
        ax.set_xlabel("training step")
        ax.set_xlim(0, steps[-1])
        top = max(top, float(np.nanmax(meas)), float(np.nanmax(law)))
    axes[0].set_ylim(0, 1.04 * top)  # shared: the highest curve of both panels, none clipped
    axes[0].set_ylabel(r"$\sqrt{\sigma_i(sBA)}$")
    # every mode is named: a discrete colour bar for the mode index i instead of a legend
    cmap = ListedColormap(plt.cm.viridis(np.linspace(0.0, 0.9, r)))
    norm = BoundaryNorm(np.arange(0.5, r + 1.5), r)
    cb = fig.colorbar(ScalarMappable(norm, cmap), ax=axes, ticks=range(1, r + 1), aspect=25)
    cb.set_label("mode $i$ (colour)")
    c = runs["muon"][0]["config"]
    model = {"tiny": "tiny BERT (2 layers, hidden 64)", "minilm": "MiniLM-L6"}.get(
        c["model"], c["model"]
    )
    n_mod = len(runs["muon"][0]["modules"])
    where = "stored GPU record" if source.startswith("stored") else "CPU"
    fig.suptitle(
        f"{model}, LoRA rank {c['rank']} on {'/'.join(c['modules'])}: "
        f"{len(meta['seeds'])} seed{'s' if len(meta['seeds']) > 1 else ''} × {c['steps']} steps "
        f"({where}), mean over {n_mod} modules",
        fontsize=style.small(),
    )
    style.legend_below(
        fig,
        [
            Line2D([], [], color="k"),
            Line2D([], [], color="k", lw=0.8, ls=(0, (3, 2))),
            Line2D([], [], color="0.5", lw=0.8, ls=":"),
        ],
        ["measured", "equal rate: one common slope from the burn-in", "burn-in step"],
        ncol=3,
    )
    style.footer(
        fig,
        f"{source}: model {c['model']}, rank {c['rank']}, modules "
        f"{','.join(c['modules'])}, init {c['init']}, {c['steps']} steps, probe "
        f"every {c['every']}, seeds {meta['seeds']}; mean over modules and seeds; "
        "law: √σ_i(t) = √σ_i(t0) + c̄ (t − t0), c̄ the mean fitted slope; spread = "
        "(max − min)/mean of the fitted slopes",
    )
    meta["device"] = runs["muon"][0]["device"]
    meta["torch_version"] = runs["muon"][0]["torch_version"]
    return fig, meta
