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
# # Loss of plasticity: resumed vs from scratch
#
# Mirrors `gflab demo plasticity` ([DMC], docs/theory.md §2.1, claim DMC-5). Phase 1 trains on the
# diagonal $\Omega_1$ of the $4 \times 4$ all-ones matrix to convergence; phase 2 also reveals the
# superdiagonal ($\Omega_2$, connected) and either resumes from phase 1 or restarts from the same
# small init.
#
# At depth 2 the diagonal entries are decoupled, so phase 1 ends at the high-rank closed form
# $w^*\big[(1 - \rho) I + \rho J\big]$; resuming from there keeps much of that rank. From scratch,
# small init finds a near rank-one completion. At depth $L \ge 3$ phase 1 is already near rank
# one, and both agree.

# %%
# %matplotlib inline
from gflab.figures.demos.plasticity import plasticity_runs
from gflab.theory import closed_forms as CF

alpha, m = 1e-3, 10.0
results = {L: plasticity_runs(L, alpha, m) for L in (2, 3)}
print("depth  phase   status     stable rank   RMSE unobserved")
for L, runs in results.items():
    for k, r in runs.items():
        f = r.final
        print(f"{L:5d}  {k:8s} {r.status:10s} {f['stable_rank']:11.4f}   {f['test_rmse']:.4f}")

# %% [markdown]
# Phase 1 at depth 2 agrees with the closed form (an exact oracle):

# %%
import numpy as np  # noqa: E402

phase1_matrix = results[2]["phase1"].final["matrix"]
phase1_closed_form = CF.mimic_limit(4, 2, alpha, m).matrix()
print(np.round(phase1_matrix, 6))
print("max deviation from the closed form:", np.max(np.abs(phase1_matrix - phase1_closed_form)))

# %%
from matplotlib.figure import Figure  # noqa: E402

from gflab.figures import style  # noqa: E402

style.apply()
fig = Figure(figsize=(10, 3.8))
axes = fig.subplots(1, 2, sharey=True)
for ax, L in zip(axes, (2, 3), strict=True):
    for k, ls in (("resumed", "-"), ("scratch", "--")):
        r = results[L][k]
        sig = r.series["singular_values"]
        ax.plot(r.times[1:], (np.sum(sig**2, axis=1) / sig[:, 0] ** 2)[1:], ls=ls, label=k)
    ax.set(xscale="log", xlabel="phase-2 time t", title=f"depth {L}")
axes[0].set_ylabel("stable rank")
axes[0].legend()
fig  # noqa: B018  (the cell's value: the figure, shown once)

# %% [markdown]
# ## Interactive demo
# <iframe class="gflab-demo" src="../demos/plasticity.html" title="gflab demo plasticity" width="100%"
#  height="920" loading="lazy"></iframe>
# <a href="../demos/plasticity.html" target="_blank">Open the demo in a page of its own</a>
#
# In the documentation site, the frame above holds the web page `gflab demo plasticity --html
# plasticity.html`: the demo's curves precomputed on a grid of its sliders' values, so it runs
# without a kernel or a network. In Jupyter, the next cell (run live only, left out of the site)
# gives sliders for depth $L$, $\alpha$ and $m$, and a time cursor: each change calls the demo's
# own `compute` (the code behind the window, the GIF and the web page) and redraws the figure in
# place. The same in a window: `gflab demo plasticity`.

# %% tags=["live-only"]
from gflab.figures.demos.widgets import demo_widget  # noqa: E402

widget = demo_widget("plasticity")
widget  # noqa: B018  (the cell's value: the sliders and the figure)
