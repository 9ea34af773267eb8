"""The attacks on gflab, counted: ``PYTHONPATH=. python tests/attack.py`` prints a JSON of counts.

Bad inputs run in-process through ``gflab.cli.main`` (each with and without ``--json``, 60 s alarm
as the hang detector; training and simulation entry points are replaced by a marker so an input
that is wrongly accepted is counted, not run). Tampered entries are real store entries edited on
disk; hostile entries (a pipe, a link to ``/dev/zero``, a 10 GiB sparse file, a file or a link for a
folder) are counted as hangs, served, or not healed by a rerun. The process faults (killed workers, killed parents, lost schedulers) are counted by
``tests/test_hardening.py`` and ``tests/test_sweep.py``, which use real processes and signals.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("JAX_ENABLE_X64", "1")
os.environ.setdefault("GFLAB_MAX_MEMORY", "4G")  # the same answers on any machine


class Accepted(Exception):
    """A bad input reached training or simulation."""


class Hang(Exception):
    pass


def _block_work():
    import gflab.sims.bridge.dmf_run as dmf_run
    import gflab.sims.bridge.lora_run as lora_run
    import gflab.sims.sweep._task as sweep_task

    def stop(*a, **k):
        raise Accepted()

    import gflab.sims.bridge.warmstart as warmstart
    import gflab.sims.dash as dash
    import gflab.sims.river as river
    from gflab import sims

    dmf_run.import_torch = stop
    lora_run.import_torch = stop
    warmstart.import_torch = stop
    sweep_task.run_one = stop
    sims.simulate_dmf = sims.simulate_lora = stop
    dash.stored_dash = river.stored_river = stop


def _run(argv):
    from shared_cases import deadline, gflab_in_process

    with deadline(60, Hang()):
        return gflab_in_process(argv)


def bad_inputs(tmp: Path) -> list[list[str]]:
    spec = tmp / "s.toml"
    spec.write_text('model = "dmf"\n[base]\ndepth = 2\nn = 2\n')
    f = tmp / "file"
    f.write_text("x")
    bad_spec = tmp / "b.toml"
    bad_spec.write_text(
        'model = "dmf"\n[base]\ndepth = 2\nn = 2\n[grid]\nalpha = {logspace = [300, 400, 3]}\n'
    )
    imp = tmp / "i.toml"
    imp.write_text('model = "dmf"\nrunner = "os:system"\n[base]\ndepth = 2\nn = 2\n')
    twice = tmp / "t.toml"
    twice.write_text(
        'model = "dmf"\n[base]\ndepth = 2\nn = 2\nmethod = "gd:0.1"\nsteps = 5\nlr = 0.2\n'
    )
    empty, strings = tmp / "empty.npy", tmp / "strings.npy"
    empty.write_bytes(b"")
    import numpy as np

    np.save(strings, np.array([["a", "b"], ["c", "d"]]))
    small_dmf = ["simulate", "dmf", "--depth", "2", "--n", "2"]
    dmf = [*small_dmf, "--t1", "1"]
    dash = ["simulate", "dmf-dash", "--depth", "2", "--n", "4"]
    river = ["simulate", "river", "--steps", "40"]
    return [
        [*dmf, "--solver", "nope"],
        [*dmf, "--mask-file", str(empty)],
        [*dmf, "--mask-file", str(strings)],
        [*dmf, "--stop-loss", "1e-3", "--converge-tol", "1e-5"],
        [*small_dmf, "--method", "gd:0.1", "--steps", "5", "--grid", "log"],
        [
            "simulate",
            "lora",
            "--rows",
            "1000000",
            "--cols",
            "100000",
            "--rank",
            "2",
            "--target-svals",
            "1,4",
            "--t1",
            "2",
        ],
        ["simulate", "river", "--steps", "1000000000000"],
        ["simulate", "river", "--steps", "100000000"],
        ["simulate", "river", "--rows", "100000", "--cols", "100000"],
        [*river, "--rows", "1000000"],
        [*river, "--h-bulk", "1e308"],
        [*river, "--h-wall", "1e-320"],
        [*river, "--noise", "1e308"],
        [*dash, "--intervention", "none", "--floor", "0.5"],
        ["bridge", "warmstart", "--width", "1000000000"],
        ["bridge", "warmstart", "--kinds", "warm,warm"],
        ["bridge", "dmf", "--depth", "1000000", "--no-store"],
        ["bridge", "lora", "--optimizer", "adamw", "--momentum", "0.5", "--no-store"],
        ["bridge", "lora", "--store", str(tmp / "st"), "--no-store"],
        ["check", "--list", "--claim", "NOSUCH"],
        ["check", "--profile", ""],
        ["sweep", str(twice)],
        ["sweep", str(spec), "--executor", "dask-local:2", "--timeout", "5"],
        ["results", "--store", str(f)],
        ["figures", "--store", str(f)],
        ["demo", "depth", "--save", str(tmp / "no" / "such" / "x.gif")],
        ["demo", "depth", "--html", str(tmp / "no" / "such" / "x.html")],
        ["sweep", str(spec), "--store", str(f)],
        ["sweep", str(bad_spec)],
        ["sweep", str(imp), "--store", str(tmp / "st")],
        ["sweep", str(spec), "--executor", "local:0"],
        ["sweep", str(spec), "--timeout", "0"],
        ["sweep", str(tmp / "missing.toml")],
        ["check", "--beyond", ""],
        ["check", "--beyond", "NOPE"],
        ["bridge", "dmf", "--depth", "1", "--no-store"],
        ["bridge", "dmf", "--mask", "bernoulli:0.5", "--no-store"],
        ["bridge", "dmf", "--mask", "diagonal", "--observed", "0.5", "--no-store"],
        ["bridge", "dmf", "--n", "100000", "--no-store"],
        ["bridge", "dmf", "--steps", "1000000000000", "--no-store"],
        ["bridge", "dmf", "--out", str(f), "--no-store"],
        ["bridge", "dmf", "--store", str(f)],
        ["bridge", "lora", "--seeds", "1,1", "--no-store"],
        ["bridge", "lora", "--model", "tiny", "--rank", "100000", "--no-store"],
        ["bridge", "lora", "--steps", "1000000000", "--no-store"],
        ["bridge", "lora", "--out", str(f), "--no-store"],
        ["nope"],
    ]


def count_inputs(tmp: Path) -> dict:
    c = {"cases": 0, "tracebacks": 0, "hangs": 0, "silently_accepted": 0, "not_exit_2": 0}
    c["json_not_json"] = 0
    for argv in bad_inputs(tmp):
        for as_json in (False, True):
            c["cases"] += 1
            try:
                code, out, err = _run([*argv, "--json"] if as_json else argv)
            except Accepted:
                c["silently_accepted"] += 1
                continue
            except Hang:
                c["hangs"] += 1
                continue
            except Exception:  # noqa: BLE001
                c["tracebacks"] += 1
                continue
            c["tracebacks"] += "Traceback" in err
            c["not_exit_2"] += code != 2
            if as_json:
                try:
                    ok = set(json.loads(out)["error"]) == {"parameter", "message", "allowed"}
                except (ValueError, KeyError, TypeError):
                    ok = False
                c["json_not_json"] += not ok
            elif len(err.strip().splitlines()) != 1:
                c["not_exit_2"] += 1  # not one line
    return c


def count_tampered(tmp: Path) -> dict:
    from gflab.sims.config import DMFConfig
    from gflab.sims.dmf import simulate_dmf
    from gflab.sims.store import ResultStore

    cfg0 = DMFConfig(depth=2, n=2, m=3.0, alpha=1e-2, n_save=4)
    cfg1 = cfg0.replace(alpha=2e-1)
    r0, r1 = simulate_dmf(cfg0), simulate_dmf(cfg1)

    def fresh(name):
        s = ResultStore(tmp / name)
        s.put(cfg0, r0)
        s.put(cfg1, r1)
        return s, s.paths(s.key(cfg0))

    def edit_json(path, fn):
        meta = json.loads(path.read_text())
        fn(meta)
        path.write_text(json.dumps(meta))

    def copy_other(s, npz, side):
        shutil.rmtree(s.entry_dir(s.key(cfg0)))
        shutil.copytree(s.entry_dir(s.key(cfg1)), s.entry_dir(s.key(cfg0)))

    def link_other(s, npz, side):
        shutil.rmtree(s.entry_dir(s.key(cfg0)))
        s.entry_dir(s.key(cfg0)).symlink_to(s.entry_dir(s.key(cfg1)))

    def set_value_drop_checksum(s, npz, side):
        edit_json(
            side, lambda m: (m["result"]["final"].update(stable_rank=42), m.pop("sidecar_sha256"))
        )

    def only_npz_sha(s, npz, side):
        side.write_text(json.dumps({"npz_sha256": json.loads(side.read_text())["npz_sha256"]}))

    def swap_npz(s, npz, side):
        shutil.copy(s.paths(s.key(cfg1))[0], npz)

    def swap_npz_and_sha(s, npz, side):
        shutil.copy(s.paths(s.key(cfg1))[0], npz)
        import hashlib

        sha = hashlib.sha256(npz.read_bytes()).hexdigest()
        edit_json(side, lambda m: (m.update(npz_sha256=sha), m.pop("sidecar_sha256")))

    def flip(s, npz, side):
        b = bytearray(npz.read_bytes())
        b[len(b) // 2] ^= 0xFF
        npz.write_bytes(bytes(b))

    def truncate_side(s, npz, side):
        side.write_text(side.read_text()[:40])

    def other_code(s, npz, side):
        edit_json(side, lambda m: m.update(code="0" * 64))

    cases = [copy_other, link_other, set_value_drop_checksum, only_npz_sha, swap_npz,
             swap_npz_and_sha, flip, truncate_side, other_code]  # fmt: skip
    served = 0
    for fn in cases:
        s, (npz, side) = fresh(fn.__name__)
        fn(s, npz, side)
        served += s.get(cfg0) is not None  # any tampered entry served counts
    return {"cases": len(cases), "tampered_served": served}


def count_hostile(tmp: Path, run) -> dict:
    """Hostile files in place of an entry (river records: NumPy only): each must be read as
    ``corrupt`` within the alarm, never served, and healed by a rerun (``run``: the real
    :func:`gflab.sims.river.stored_river`, which ``_block_work`` replaces for the CLI cases)."""
    from shared_cases import deadline

    import gflab.sims.river as river
    from gflab.sims.store import ResultStore

    cfg, other = river.RiverConfig(steps=16), river.RiverConfig(steps=16, seed=1)

    def fifo(d, o):
        (d / "meta.json").unlink()
        os.mkfifo(d / "meta.json")

    def devzero(d, o):
        (d / "meta.json").unlink()
        (d / "meta.json").symlink_to("/dev/zero")

    def sparse(d, o):
        with open(d / "data.npz", "r+b") as f:
            f.truncate(10 * 2**30)

    def file_for_folder(d, o):
        shutil.rmtree(d)
        d.write_text("x")

    def linked(d, o):
        shutil.rmtree(d)
        d.symlink_to(o)

    def file_for_shard(d, o):
        shutil.rmtree(d.parent)
        d.parent.write_text("x")

    c = {"cases": 0, "hangs": 0, "served": 0, "not_healed": 0}
    for fn in (fifo, devzero, sparse, file_for_folder, linked, file_for_shard):
        c["cases"] += 1
        s = ResultStore(tmp / f"hostile-{fn.__name__}")
        run(cfg, s), run(other, s)
        fn(s.entry_dir(s.key(cfg)), s.entry_dir(s.key(other)))
        try:
            with deadline(20, Hang()):
                c["served"] += s.read(cfg).state == "ok"
                run(cfg, s)
                c["not_healed"] += run(cfg, s)[1] != "hit"
        except Hang:
            c["hangs"] += 1
    return c


def main() -> int:
    import gflab.sims.river as river

    stored_river = river.stored_river
    _block_work()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        counts = {
            "bad_inputs": count_inputs(tmp),
            "store": count_tampered(tmp),
            "hostile_store": count_hostile(tmp, stored_river),
        }
    json.dump(counts, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
