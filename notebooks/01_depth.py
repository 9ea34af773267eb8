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
# Mirrors `gflab demo depth` ([DMC], docs/theory.md §2.1). Factors W_1..W_L all start at
# `mimic(α, m)` = (α^{1/L}/√n)[(1 − 1/m) I + J/m]; only the diagonal Ω is observed and the
# target is W* = w*·J (w* = 1). The product stays in span{I, J} with eigenvalues λ1 (on the
# ones vector) and λ2, which obey the exact 2-D ODE
#
#   dλ_k/dt = −L e λ_k^{2−2/L},  e = W_ii − w* = λ2 + (λ1 − λ2)/n − w*.
#
# * L = 2 conserves λ1/λ2: the limit is w*[(1 − ρ)I + ρJ], ρ = (n + 2m − 2)/(n + m² − 1),
#   whatever α is: no low-rank bias.
# * L ≥ 3 conserves λ2^{−κ} − λ1^{−κ} (κ = (L−2)/L): as α → 0 the limit tends to rank one.

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
# The reduced ODE is integrated with scipy (LSODA, in log λ); dashed lines are the closed-form
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
# ## Smaller α, lower rank — but only with depth
# Stable rank ‖W∞‖_F²/‖W∞‖_2² of the limit, from the closed forms alone (n = 4, m = 10: an
# init far from J, so depth 2 stays clearly above rank one).

# %%
alphas = np.geomspace(1e-6, 1e-1, 6)
table = {L: [CF.mimic_limit(4, L, a, 10.0).stable_rank for a in alphas] for L in depths}
print("alpha     " + "".join(f"   L = {L}  " for L in depths))
for i, a in enumerate(alphas):
    print(f"{a:8.0e}  " + "".join(f"{table[L][i]:10.4f} " for L in depths))

# %% [markdown]
# ## Cross-check: the full gradient flow of the factors
# `simulate_dmf` integrates all L·n² factor entries (Tsit5 + PID, float64) without using the
# span{I, J} structure. Its saved products agree with the reduced ODE.

# %%
from gflab.sims import DMFConfig, simulate_dmf  # noqa: E402

cfg = DMFConfig(depth=2, n=4, init="mimic", m=m, alpha=alpha, mask="diagonal", target="ones")
res = simulate_dmf(cfg)
ref = reduced_trajectory(4, 2, alpha, m, times=res.times)
reduced_W = np.stack([ref.matrix(k) for k in range(len(res.times))])
sim_vs_reduced_error = float(np.max(np.abs(res.series["matrix"] - reduced_W)))
print(f"{res.status}; max |W_sim(t) − W_reduced(t)| over saved t: {sim_vs_reduced_error:.2e}")

# %% [markdown]
# ## Interactive: the sliders of `gflab demo depth`
# Sliders for depth L, α, m and n, and a time cursor. Each change calls the demo's own `compute`
# (the code behind the window, the GIF and the HTML page) and redraws the figure in place.
# The same in a window: `gflab demo depth`; a web page: `gflab demo depth --html depth.html`.

# %%
from gflab.figures.demos.widgets import demo_widget  # noqa: E402

widget = demo_widget("depth")
widget  # noqa: B018  (the cell's value: the sliders and the figure)
