"""Issue 10 Done-when 1: for every claim of `gflab check --profile ci --json`, run its
worst_example.reproduce and compare the printed store_key (and config) with the check's.

Run from the checkout root:  JAX_ENABLE_X64=1 PYTHONPATH=$PWD .venv/bin/python tools/reproduce_claims.py
Exit 0 when every claim's command reproduces its key and config (an empty temporary store).
"""

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

env = dict(os.environ, GFLAB_STORE=tempfile.mkdtemp(prefix="repro_store_"), MPLBACKEND="Agg")
py = [sys.executable, "-m", "gflab"]
t0 = time.time()
out = subprocess.run(
    py + ["check", "--profile", "ci", "--json"], capture_output=True, text=True, env=env
)
doc = json.loads(out.stdout)
print(
    f"gflab check --profile ci --json: rc={out.returncode}, {len(doc['claims'])} claims, {time.time() - t0:.0f} s"
)
bad = 0
for rep in doc["claims"]:
    w = rep.get("worst_example") or {}
    cmd = w.get("reproduce")
    if not cmd or "store_key" not in w:
        bad += 1
        print(f"{rep['id']:<8} NO reproduce/store_key: {sorted(w)}")
        continue
    argv = shlex.split(cmd)
    assert argv[0] == "gflab", cmd
    t = time.time()
    r = subprocess.run(py + argv[1:], capture_output=True, text=True, env=env)
    try:
        run = json.loads(r.stdout)
    except ValueError:
        run = {}
    same = run.get("store_key") == w["store_key"] and run.get("config") == w["config"]
    bad += not same
    print(
        f"{rep['id']:<8} {'SAME' if same else 'DIFFERENT'} key {w['store_key'][:16]} "
        f"rc={r.returncode} {time.time() - t:.1f} s  {cmd}"
    )
print(f"{len(doc['claims']) - bad}/{len(doc['claims'])} claims reproduce their store_key")
sys.exit(1 if bad else 0)
