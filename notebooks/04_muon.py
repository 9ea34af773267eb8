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
# # Muon (Newton–Schulz) vs exact SpecGD, and the zero-factor LoRA init
#
# Mirrors `gflab demo muon` ([SGF], docs/theory.md §2.2, SGF-6/7). Exact SpecGD steps
# $A \leftarrow A - \eta\, \operatorname{polar}(\nabla_A \mathcal L)$ (same for $B$): the discrete
# SpecGF at $\beta = 0$, with arrival step $k_i \approx \sqrt{f s_i}/\eta$. Muon replaces the polar
# factor by five quintic Newton–Schulz steps (after Frobenius normalisation) and adds Nesterov
# momentum; its output singular values lie in roughly $[0.7, 1.2]$, not at 1.
#
# LoRA's init puts one factor at zero (here $A(0) = 0$; PEFT calls it $B = 0$). Then the product
# starts at exactly 0 and the first step of the zero factor is
# $-\eta\, \operatorname{polar}(\nabla_A \mathcal L) = \eta\, \operatorname{polar}\big(Y B(0)^\top\big)$,
# an equal push on every mode. With both factors Gaussian, exact SpecGD delays the smallest mode.

# %%
# %matplotlib inline
import numpy as np

from gflab.figures.demos.muon import TARGETS, muon_configs, ns_singular_value_map
from gflab.sims import simulate_lora
from gflab.theory import closed_forms as CF
from gflab.theory import measures as M

lr, gamma, momentum, fraction = 0.01, 1e-3, 0.95, 0.9
s = np.asarray(TARGETS)
predicted = CF.specgd_arrival_step(s, lr, fraction)
arrivals = {}
for init in ("lora", "gaussian"):
    spec_cfg, muon_cfg = muon_configs(lr, gamma, momentum, init)
    for name, cfg in (("SpecGD", spec_cfg), ("Muon", muon_cfg)):
        r = simulate_lora(cfg)
        arrivals[(init, name)] = M.arrival_times(r.times, r.series["proxies"], s, fraction)
print("predicted steps √(f s_i)/η:", np.round(predicted, 1))
for key, a in arrivals.items():
    print(f"{key[0]:8s} {key[1]:6s}:", np.round(a, 1))

# %% [markdown]
# ## What Newton–Schulz does to one singular value
# A singular value $x = \sigma / \lVert G\rVert_F$ goes through
# $x \leftarrow 3.4445\,x - 4.7750\,x^3 + 2.0315\,x^5$ five times.

# %%
x = np.array([1e-4, 1e-3, 1e-2, 0.1, 0.3, 0.5, 0.7, 0.9])
for xi, yi in zip(x, ns_singular_value_map(x), strict=True):
    print(f"σ/‖G‖_F = {xi:7.4f}  →  {yi:.4f}")

# %%
from matplotlib.figure import Figure  # noqa: E402

from gflab.figures import style  # noqa: E402

style.apply()
fig = Figure(figsize=(5, 4))
ax = fig.subplots()
hi = 1.2 * predicted.max()
ax.plot([0, hi], [0, hi], "k:", lw=1)
for (init, name), a in arrivals.items():
    ax.plot(predicted, a, "o-" if name == "SpecGD" else "s--", label=f"{name}, {init} init")
ax.set(xlabel="predicted step √(f s_i)/η", ylabel=f"step where d_i = {fraction} s_i")
ax.legend()
fig  # noqa: B018  (the cell's value: the figure, shown once)

# %% [markdown]
# ## Interactive demo
# <iframe class="gflab-demo" src="../demos/muon.html" title="gflab demo muon" width="100%"
#  height="920" loading="lazy"></iframe>
# <a href="../demos/muon.html" target="_blank">Open the demo in a page of its own</a>
#
# In the documentation site, the frame above holds the web page `gflab demo muon --html muon.html`:
# the demo's curves precomputed on a grid of its sliders' values, so it runs without a kernel or a
# network. In Jupyter, the next cell (run live only, left out of the site) gives sliders for
# $\eta$, $\gamma$, momentum and the init, and a time cursor: each change calls the demo's own
# `compute` (the code behind the window, the GIF and the web page) and redraws the figure in place.
# The same in a window: `gflab demo muon`.

# %% tags=["live-only"]
from gflab.figures.demos.widgets import demo_widget  # noqa: E402

widget = demo_widget("muon")
widget  # noqa: B018  (the cell's value: the sliders and the figure)
