# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Gradient flow's staircase vs spectral gradient flow's equal rate
#
# Mirrors `gflab demo staircase` ([SGF], docs/theory.md §2.2).
# $\mathcal L(A, B) = \tfrac12 \lVert AB - Y\rVert_F^2$ with LoRA's init $A(0) = 0$,
# $B(0) = \gamma \cdot \text{Gaussian}$; $Y$ has singular values $s_i$ and
# $d_i = u_i^\top A B\, v_i$ measures mode $i$.
#
# * Gradient flow ($\dot A = -\nabla_A \mathcal L$, $\dot B = -\nabla_B \mathcal L$): each mode is
#   roughly logistic, $\dot p = 2p(s - p)$, so the largest target is learned first, with plateaus
#   in between.
# * Spectral gradient flow ($\dot A = -T_\beta(\nabla_A \mathcal L)$, $\dot B = -T_\beta(\nabla_B \mathcal L)$,
#   $T_\beta(G) = G\,(G^\top G + \beta I)^{-1/2}$): every $\sqrt{d_i}$ grows at rate $\approx 1$,
#   so mode $i$ arrives at $t_i \approx \sqrt{s_i}$, the smallest first.

# %%
# %matplotlib inline
import numpy as np
from matplotlib.figure import Figure

from gflab.figures import style
from gflab.figures.demos.staircase import staircase_configs
from gflab.sims import simulate_lora
from gflab.theory import closed_forms as CF
from gflab.theory import measures as M

style.apply()
beta, gamma = 1e-6, 1e-3
gf_cfg, sgf_cfg = staircase_configs(beta, gamma, s_min=1.0, s_max=16.0)
s = np.asarray(gf_cfg.target_svals)
gf, sgf = simulate_lora(gf_cfg), simulate_lora(sgf_cfg)
print("targets", s, "| GF", gf.status, "| SpecGF", sgf.status)

# %%
fig = Figure(figsize=(10, 4))
ax1, ax2 = fig.subplots(1, 2)
for i in range(len(s)):
    c = style.PALETTE[i]
    ax1.plot(gf.times, gf.series["proxies"][:, i], color=c, label=f"s = {s[i]:.3g}")
    ax2.plot(sgf.times, np.sqrt(np.maximum(sgf.series["proxies"][:, i], 0)), color=c)
ax2.plot(sgf.times, sgf.times, "k--", lw=1, label="√d = t")
ax1.set(xlabel="t", ylabel="d_i", title="gradient flow: largest first")
ax2.set(xlabel="t", ylabel="√d_i", title=f"SpecGF (β = {beta:g}): equal rate, smallest first")
ax1.legend()
ax2.legend()
fig  # noqa: B018  (the cell's value: the figure, shown once)

# %% [markdown]
# ## Arrival times against the prediction
# The time at which mode $i$ reaches the fraction $f$ of its target, against SpecGF's
# $t_i \approx \sqrt{f s_i}$ ($f = 1/2$).

# %%
fraction = 0.5
specgf_arrival = M.arrival_times(sgf.times, sgf.series["proxies"], s, fraction)
predicted = CF.specgf_arrival_time(s, fraction)
gf_arrival = M.arrival_times(gf.times, gf.series["proxies"], s, fraction)
for i in range(len(s)):
    print(
        f"s = {s[i]:6.3f}: SpecGF t = {specgf_arrival[i]:.4f} (√(f s) = {predicted[i]:.4f}),"
        f"  GF t = {gf_arrival[i]:.4f}"
    )

# %% [markdown]
# Try a large $\beta$ (say $10^{-1}$): the small modes lag and the equal rate breaks (SGF-7).

# %% [markdown]
# ## Interactive demo
# <iframe class="gflab-demo" src="../demos/staircase.html" title="gflab demo staircase" width="100%"
#  height="920" loading="lazy"></iframe>
# <a href="../demos/staircase.html" target="_blank">Open the demo in a page of its own</a>
#
# In the documentation site, the frame above holds the web page `gflab demo staircase --html
# staircase.html`: the demo's curves precomputed on a grid of its sliders' values, so it runs
# without a kernel or a network. In Jupyter, the next cell (run live only, left out of the site)
# gives sliders for $\beta$, $\gamma$ and the targets, and a time cursor: each change calls the
# demo's own `compute` (the code behind the window, the GIF and the web page) and redraws the
# figure in place. The same in a window: `gflab demo staircase`.

# %% tags=["live-only"]
from gflab.figures.demos.widgets import demo_widget  # noqa: E402

widget = demo_widget("staircase")
widget  # noqa: B018  (the cell's value: the sliders and the figure)
