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
# # Depth promotes low rank: diagonal completion of the all-ones matrix
#
# Mirrors `gflab demo depth` ([DMC], docs/theory.md §2.1). Factors $W_1, \dots, W_L$ all start at
# `mimic(α, m)` $= \frac{\alpha^{1/L}}{\sqrt n}\big[(1 - \tfrac1m) I + \tfrac1m J\big]$; only the
# diagonal $\Omega$ is observed and the target is $W^* = w^* J$ ($w^* = 1$). The product stays in
# $\operatorname{span}\{I, J\}$ with eigenvalues $\lambda_1$ (on the ones vector) and $\lambda_2$,
# which obey the exact 2-D ODE
#
# $$\frac{d\lambda_k}{dt} = -L\, e\, \lambda_k^{2 - 2/L}, \qquad
#   e = W_{ii} - w^* = \lambda_2 + \frac{\lambda_1 - \lambda_2}{n} - w^*.$$
#
# * $L = 2$ conserves $\lambda_1/\lambda_2$: the limit is $w^*\big[(1 - \rho) I + \rho J\big]$ with
#   $\rho = \frac{n + 2m - 2}{n + m^2 - 1}$, whatever $\alpha$ is: no low-rank bias.
# * $L \ge 3$ conserves $\lambda_2^{-\kappa} - \lambda_1^{-\kappa}$ ($\kappa = (L-2)/L$): as
#   $\alpha \to 0$ the limit tends to rank one.

# %%
# %matplotlib inline
import numpy as np
from matplotlib.figure import Figure

from gflab.figures import style
from gflab.figures.demos.depth import reduced_trajectory
from gflab.theory import closed_forms as CF

style.apply()
n, alpha, m = 2, 1e-3, 3.0
depths = (2, 3, 4, 5)

# %% [markdown]
# ## The off-diagonal entry over time, for several depths
# The reduced ODE is integrated with scipy (LSODA, in $\log \lambda$); dashed lines are the closed-form
# limits from the conserved quantities.

# %%
first = {L: reduced_trajectory(n, L, alpha, m) for L in depths}
grid = np.geomspace(1e-3, 3 * max(r.t_converged for r in first.values()), 400)
runs = {L: reduced_trajectory(n, L, alpha, m, times=grid) for L in depths}

fig = Figure(figsize=(6.5, 4))
ax = fig.subplots()
for i, (L, run) in enumerate(runs.items()):
    c = style.PALETTE[i]
    ax.plot(grid, run.offdiagonal, color=c, label=f"L = {L}")
    ax.axhline(run.limit.offdiagonal, color=c, ls="--", lw=1)
ax.set_xscale("log")
ax.set_xlabel("flow time t")
ax.set_ylabel("W₁₂(t)")
ax.set_title(f"mimic(α = {alpha:g}, m = {m:g}), n = {n}; dashed: closed-form limits")
ax.legend()
fig  # noqa: B018  (the cell's value: the figure, shown once)

# %%
offdiag_final = {L: float(run.offdiagonal[-1]) for L, run in runs.items()}
offdiag_closed_form = {L: CF.mimic_limit(n, L, alpha, m).offdiagonal for L in depths}
for L in depths:
    print(f"L = {L}: W12(∞) {offdiag_final[L]:.10f}, closed form {offdiag_closed_form[L]:.10f}")
print(f"depth-2 rho(m) = {CF.depth2_rho(n, m):.10f}")

# %% [markdown]
# ## A smaller init, a lower rank — but only with depth
# Stable rank $\lVert W_\infty\rVert_F^2 / \lVert W_\infty\rVert_2^2$ of the limit, from the closed
# forms alone ($n = 4$, $m = 10$: an init far from $J$, so depth 2 stays clearly above rank one).

# %%
alphas = np.geomspace(1e-6, 1e-1, 6)
table = {L: [CF.mimic_limit(4, L, a, 10.0).stable_rank for a in alphas] for L in depths}
print("alpha     " + "".join(f"   L = {L}  " for L in depths))
for i, a in enumerate(alphas):
    print(f"{a:8.0e}  " + "".join(f"{table[L][i]:10.4f} " for L in depths))

# %% [markdown]
# ## Cross-check: the full gradient flow of the factors
# `simulate_dmf` integrates all $L n^2$ factor entries (Tsit5 + PID, float64) without using the
# $\operatorname{span}\{I, J\}$ structure. Its saved products agree with the reduced ODE.

# %%
from gflab.sims import DMFConfig, simulate_dmf  # noqa: E402

cfg = DMFConfig(depth=2, n=4, init="mimic", m=m, alpha=alpha, mask="diagonal", target="ones")
res = simulate_dmf(cfg)
ref = reduced_trajectory(4, 2, alpha, m, times=res.times)
reduced_W = np.stack([ref.matrix(k) for k in range(len(res.times))])
sim_vs_reduced_error = float(np.max(np.abs(res.series["matrix"] - reduced_W)))
print(f"{res.status}; max |W_sim(t) − W_reduced(t)| over saved t: {sim_vs_reduced_error:.2e}")

# %% [markdown]
# ## Interactive demo
# <iframe class="gflab-demo" src="../demos/depth.html" title="gflab demo depth" width="100%"
#  height="920" loading="lazy"></iframe>
# <a href="../demos/depth.html" target="_blank">Open the demo in a page of its own</a>
#
# In the documentation site, the frame above holds the web page `gflab demo depth --html
# depth.html`: the demo's curves precomputed on a grid of its sliders' values, so it runs without a
# kernel or a network. In Jupyter, the next cell (run live only, left out of the site) gives
# sliders for depth $L$, $\alpha$, $m$ and $n$, and a time cursor: each change calls the demo's own
# `compute` (the code behind the window, the GIF and the web page) and redraws the figure in place.
# The same in a window: `gflab demo depth`.

# %% tags=["live-only"]
from gflab.figures.demos.widgets import demo_widget  # noqa: E402

widget = demo_widget("depth")
widget  # noqa: B018  (the cell's value: the sliders and the figure)
