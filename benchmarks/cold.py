"""Cold-start cases of ``gflab bench``: whole commands in fresh processes with empty caches.

What people wait for in gflab is mostly compilation: tracing a solve to a jaxpr, lowering it to
MLIR and compiling it with XLA. These cases run a real command (``gflab check``, ``pytest``,
``gflab figures``) in a new process whose caches are empty folders of its own, and count what it
compiled and what that cost:

- ``check_ci``: ``gflab check --profile ci --jobs 1`` cold, then again warm (same cache folders);
- ``check_jobs2``: ``gflab check --profile ci --jobs 2`` cold: claims in two processes; fails when
  a program was compiled by both;
- ``dmc_claims_cold``: ``pytest tests/test_dmc_claims.py`` cold;
- ``figures_cold``: ``gflab figures --only NAME`` cold for each of :data:`FIGURES`, each with its
  own empty caches; fails (a status, never an exception) when a program was compiled by more than
  one process.

How it measures (docs/performance.md, "Cold starts"):

- wall seconds around the command, and its CPU seconds (user + system) from ``os.wait4``: the
  command and every process it waited for (figure and sweep workers included);
- the compile probe (``benchmarks/_probe/sitecustomize.py``, loaded by every process of the
  command through ``PYTHONPATH``) logs JAX's own events: the seconds of tracing, lowering and
  compile-or-load (wall as JAX reports them, CPU over the same interval), and every
  persistent-cache miss and hit with the program's cache key. A program *compiled* is a cache
  miss; one compiled by more than one process is a key that missed in two processes;
- the files in the empty persistent-cache folder afterwards (one per program compiled and
  written), an independent count of the same thing;
- the statistics of gflab's one-worker-per-program scheduler (``programs``,
  ``programs_split``) for every sweep or figure prefetch it planned.

Each command gets ``GFLAB_JAX_CACHE``, ``GFLAB_STORE``, ``HOME`` and every ``GFLAB_*`` folder
variable that names saved executables (:func:`export_dir_variables`) pointed at empty folders
under one work folder per case, so nothing is reused from an earlier run or from the user's own
caches. Variants (:data:`VARIANTS`) rerun a case with one setting changed and report ratios
against the default; a variant whose environment variable this gflab does not read is skipped
with a note.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "COLD_CASES",
    "FIGURES",
    "VARIANTS",
    "run_cold",
    "run_command",
    "probe_summary",
    "count_cache_files",
    "export_dir_variables",
]

ROOT = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).resolve().parent / "_probe"

COLD_CASES = ("check_ci", "check_jobs2", "dmc_claims_cold", "figures_cold")
"""The cold cases, in the order they run (``gflab bench --only`` or ``--cold``)."""

FIGURES = ("sweep_phase_diagram", "dmc_coupling_time", "dmc_plasticity_tc")
"""The figures ``figures_cold`` renders, each cold on its own."""

QUICK_CLAIMS = ("DMC-2", "DMC-1")
"""``check_ci --quick`` checks the first claim instead of the whole ci profile; ``check_jobs2
--quick`` both."""

QUICK_TEST = "test_claim_holds_ci and DMC-2"
"""``dmc_claims_cold --quick`` runs the tests this ``pytest -k`` expression selects."""

VARIANTS: dict[str, tuple[dict[str, str], str]] = {
    "no_export": ({"GFLAB_EXPORT": "off"}, "saved executables off"),
    "no_buckets": ({"GFLAB_BUCKETS": "off"}, "shape buckets off"),
}
"""Variants a cold case can be rerun with (``gflab bench --variants``): name → (environment,
meaning). Each is the code path before one of the compile-once changes, where it still exists."""

TIMEOUT = 3600.0  # seconds one command may run; past it the run is a "timeout" status

_PHASES = ("trace", "lower", "compile")


# ----------------------------------------------------------------------------- one command


def export_dir_variables(src: Path | None = None) -> list[str]:
    """The ``GFLAB_*`` environment variables gflab reads for a folder of saved executables.

    Found in the source of the gflab being measured (names containing ``EXPORT`` and ending in
    ``_DIR``, ``_CACHE`` or ``_PATH``), so the cold cases stay correct whether or not this gflab
    saves executables, and under whatever name.

    Args:
        src: the folder holding gflab's ``sims/`` (default: this checkout).

    Returns:
        The variable names, sorted.
    """
    src = src or ROOT
    pat = re.compile(r"GFLAB_[A-Z0-9_]*EXPORT[A-Z0-9_]*_(?:DIR|CACHE|PATH)\b")
    names: set[str] = set()
    for folder in ("sims", "theory", "gflab"):
        for f in (src / folder).rglob("*.py"):
            names.update(pat.findall(f.read_text(errors="replace")))
    return sorted(names)


def reads_variable(name: str, src: Path | None = None) -> bool:
    """True when gflab's source (``sims/``, ``theory/``, ``gflab/``) mentions ``name`` as a
    string, i.e. the variable can change what this gflab does."""
    src = src or ROOT
    needle = re.compile(rf"[\"']{re.escape(name)}[\"']")
    return any(
        needle.search(f.read_text(errors="replace"))
        for folder in ("sims", "theory", "gflab")
        for f in (src / folder).rglob("*.py")
    )


def cold_env(
    work: Path, extra: dict[str, str] | None = None, code: Path | None = None
) -> dict[str, str]:
    """The environment of a measured command: this one, with every cache in ``work``.

    Args:
        work: the case's folder; ``jax/``, ``store/``, ``export/`` and ``home/`` are made in it.
        extra: variables to set on top (a variant's).
        code: another source checkout whose gflab the command runs (its
            ``docs/_build/namespace`` import shim, else the checkout itself, first on
            ``PYTHONPATH``); default: the gflab this process imports.

    Returns:
        The environment (``GFLAB_BENCH_PROBE`` is set per run by :func:`run_command`).
    """
    env = dict(os.environ)
    for sub in ("jax", "store", "export", "home"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    # matplotlib keeps its font list under HOME: keep the user's, that is not what is measured
    env.setdefault("MPLCONFIGDIR", str(Path.home() / ".cache" / "matplotlib"))
    env.update(
        GFLAB_JAX_CACHE=str(work / "jax"),
        GFLAB_STORE=str(work / "store"),
        HOME=str(work / "home"),
        XDG_CACHE_HOME=str(work / "home" / ".cache"),
        JAX_ENABLE_X64="1",
        MPLBACKEND="Agg",
        PYTHONPATH=os.pathsep.join([str(PROBE), *filter(None, [env.get("PYTHONPATH")])]),
    )
    if code is not None and Path(code).resolve() != ROOT:
        shim = Path(code) / "docs" / "_build" / "namespace"
        env["PYTHONPATH"] = os.pathsep.join([str(PROBE), str(shim if shim.is_dir() else code)])
    for name in export_dir_variables(code):
        env[name] = str(work / "export")
    env.update(extra or {})
    return env


def run_command(
    args: list[str], env: dict[str, str], probe: Path, *, cwd: Path, timeout: float = TIMEOUT
) -> dict:
    """Run ``python -P args`` in a new process and measure it.

    Args:
        args: the arguments after ``python -P`` (e.g. ``["-m", "gflab", "check", ...]``).
        env: its environment (:func:`cold_env`).
        probe: an empty folder for the compile probe's logs.
        cwd: its working folder.
        timeout: seconds before it is killed (status ``timeout``).

    Returns:
        ``{"command", "returncode", "status", "wall_seconds", "cpu_seconds", "cpu_user",
        "cpu_sys", "stderr_tail", **probe_summary(probe)}``; ``status`` is ``ok``, ``failed``
        (non-zero exit) or ``timeout``.
    """
    probe.mkdir(parents=True, exist_ok=True)
    env = {**env, "GFLAB_BENCH_PROBE": str(probe)}
    argv = [sys.executable, "-P", *args]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        # a session of its own: on a timeout its workers are killed with it
        p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True)
        deadline = t0 + timeout
        timed_out = False
        while True:
            pid, st, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                timed_out = True
                os.killpg(p.pid, signal.SIGKILL)
                _, st, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.05)
        p.returncode = os.waitstatus_to_exitcode(st)
        wall = time.perf_counter() - t0
        err.seek(0)
        tail = err.read().decode(errors="replace").splitlines()[-8:]
        out.seek(0)
        stdout = out.read().decode(errors="replace")
    rec = {
        "command": shlex.join(["python", *args]),
        "returncode": p.returncode,
        "status": "timeout" if timed_out else ("ok" if p.returncode == 0 else "failed"),
        "wall_seconds": wall,
        "cpu_seconds": ru.ru_utime + ru.ru_stime,
        "cpu_user": ru.ru_utime,
        "cpu_sys": ru.ru_stime,
        "stderr_tail": tail if p.returncode else [],
        **probe_summary(probe),
    }
    rec["stdout"] = stdout
    return rec


def probe_summary(probe: Path) -> dict:
    """Add up the compile probe's logs of one command (every process's ``<pid>.jsonl``).

    Args:
        probe: the folder the command's processes logged into (``$GFLAB_BENCH_PROBE``).

    Returns:
        ``processes`` (processes that logged), ``jax_processes`` (of those, the ones that
        compiled or loaded a program), per phase ``trace``/``lower``/``compile`` a dict
        ``{"count", "nested", "wall_seconds", "cpu_seconds"}`` (outermost phases counted and
        timed; ``nested``: those inside another of the same kind), ``cache_hits``,
        ``cache_misses``, ``programs_by_name`` (the 15 commonest program names, each with how
        many distinct programs bear it),
        ``programs_compiled`` (distinct cache keys that missed), ``compiled_by_several`` (keys
        that missed in more than one process), ``duplicated`` (their program names, at most
        10), ``duplicate_compile_cpu_seconds`` (the CPU of their extra compiles),
        ``programs_per_process`` (cache misses of each process that compiled, largest first), ``recompiled_in_process`` (keys that missed twice in one process), ``plan`` (the
        scheduler's calls, programs and programs_split summed; ``None`` without a call) and
        ``notes``.
    """
    phases = {
        p: {"count": 0, "nested": 0, "wall_seconds": 0.0, "cpu_seconds": 0.0} for p in _PHASES
    }
    misses: dict[str, set] = defaultdict(set)
    compile_cpu: dict[str, list] = defaultdict(list)  # key -> CPU of each compile of it
    per_process: list[int] = []
    miss_count: Counter = Counter()
    names: dict[str, str] = {}
    hits = 0
    plan = {"calls": 0, "programs": 0, "programs_split": 0}
    notes: set[str] = set()
    processes = 0
    jax_pids: set[str] = set()
    for f in sorted(probe.glob("*.jsonl")):
        pid = f.stem
        processes += 1
        pending = None  # the key a miss announced: the next compile-or-load builds it
        own = 0
        for line in f.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a process killed mid-write
                continue
            e = rec.get("e")
            if e in phases:
                ph = phases[e]
                if rec.get("depth", 0) > 0:  # inside an outer phase of its kind: in its seconds
                    ph["nested"] += 1
                    continue
                ph["count"] += 1
                ph["wall_seconds"] += rec["wall"]
                ph["cpu_seconds"] += rec["cpu"] or 0.0
                if e == "compile":
                    jax_pids.add(pid)
                    if pending is not None:
                        compile_cpu[pending].append(rec["cpu"] or 0.0)
                    pending = None
            elif e == "miss":
                pending = rec["key"]
                own += 1
                misses[rec["key"]].add(pid)
                miss_count[(rec["key"], pid)] += 1
                names[rec["key"]] = rec["name"]
            elif e == "hit":
                pending = None
                hits += 1
            elif e == "plan":
                plan["calls"] += 1
                plan["programs"] += rec["programs"]
                plan["programs_split"] += rec["programs_split"]
            elif e == "note":
                notes.add(rec["text"])
        if pid in jax_pids:
            per_process.append(own)
    several = sorted(k for k, pids in misses.items() if len(pids) > 1)
    return {
        "processes": processes,
        "jax_processes": len(jax_pids),
        **phases,
        "cache_hits": hits,
        "cache_misses": sum(miss_count.values()),
        "programs_compiled": len(misses),
        "programs_by_name": dict(Counter(names.values()).most_common(15)),
        "compiled_by_several": len(several),
        "duplicated": [names[k] for k in several[:10]],
        # CPU the extra compiles of those programs cost (all but one compile each, at their mean)
        "duplicate_compile_cpu_seconds": sum(
            sum(c) * (len(c) - 1) / len(c) for k in several if (c := compile_cpu[k])
        ),
        "programs_per_process": sorted(per_process, reverse=True),
        "recompiled_in_process": sum(1 for n in miss_count.values() if n > 1),
        "plan": plan if plan["calls"] else None,
        "notes": sorted(notes),
    }


def count_cache_files(folder: Path) -> int:
    """Entries of JAX's persistent compilation cache in a folder.

    Args:
        folder: the cache folder (``$GFLAB_JAX_CACHE``).

    Returns:
        The number of ``*-cache`` files in it (one per program written).
    """
    return sum(1 for f in Path(folder).glob("*-cache") if f.is_file())


def _count_files(folder: Path) -> int:
    return sum(1 for f in Path(folder).rglob("*") if f.is_file()) if folder.exists() else 0


def _measure(args: list[str], work: Path, label: str, env: dict, cwd: Path, say) -> dict:
    say(f"{work.name} {label}: python {shlex.join(args)}")
    rec = run_command(args, env, work / f"probe-{label}", cwd=cwd)
    cpu = rec["cpu_seconds"]
    rec["label"] = label
    rec["cpu_share"] = {p: (rec[p]["cpu_seconds"] / cpu if cpu > 0 else None) for p in _PHASES}
    rec["cache_files"] = count_cache_files(work / "jax")
    rec["export_files"] = _count_files(work / "export")
    rec["store_files"] = _count_files(work / "store")
    rec["work"] = str(work)
    return rec


# ----------------------------------------------------------------------------- the cases


def _check_ci(
    work: Path, extra: dict, quick: bool, say, code: Path = ROOT, jobs: int = 1
) -> list[dict]:
    env = cold_env(work, extra, code)
    args = ["-m", "gflab", "check", "--profile", "ci", "--jobs", str(jobs), "--json"]
    if quick:
        args += [x for c in QUICK_CLAIMS[: max(jobs, 1)] for x in ("--claim", c)]
    labels = ("cold", "warm") if jobs == 1 else ("cold",)
    runs = [_measure(args, work, label, env, work, say) for label in labels]
    for r in runs:
        r["claims"] = _claims_verdicts(r.pop("stdout"))
    return runs


def _claims_verdicts(stdout: str) -> dict | None:
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError:
        return None
    reports = data.get("claims") if isinstance(data, dict) else None
    if not isinstance(reports, list):
        return None
    return dict(Counter(str(r.get("verdict", "?")) for r in reports))


def _dmc_claims(work: Path, extra: dict, quick: bool, say, code: Path = ROOT) -> list[dict]:
    env = cold_env(work, extra, code)
    args = ["-m", "pytest", "tests/test_dmc_claims.py", "-q", "-p", "no:cacheprovider"]
    if quick:
        args += ["-k", QUICK_TEST]
    rec = _measure(args, work, "cold", env, Path(code), say)
    rec["pytest"] = _pytest_line(rec.pop("stdout"))
    return [rec]


def _pytest_line(stdout: str) -> str:
    lines = [x for x in stdout.splitlines() if re.search(r"\d+ (passed|failed|error)", x)]
    return lines[-1].strip("= ") if lines else ""


def _figures(
    work: Path, extra: dict, quick: bool, say, code: Path = ROOT, figures=FIGURES
) -> list[dict]:
    runs = []
    for name in figures:
        sub = work / name  # each figure cold on its own
        fenv = cold_env(sub, extra, code)
        args = ["-m", "gflab", "figures", "--only", name, "--out", str(sub / "out"), "--quiet"]
        args += ["--store", str(sub / "store")] + (["--fast"] if quick else [])
        rec = _measure(args, sub, name, fenv, sub, say)
        rec.pop("stdout")
        runs.append(rec)
    return runs


_RUNNERS: dict[str, Callable] = {
    "check_ci": _check_ci,
    "check_jobs2": lambda *a: _check_ci(*a, jobs=2),
    "dmc_claims_cold": _dmc_claims,
    "figures_cold": _figures,
}


def _problems(name: str, runs: list[dict]) -> list[str]:
    out = []
    for r in runs:
        if r["status"] != "ok":
            out.append(f"{r['label']}: {r['status']} (exit {r['returncode']})")
        if r["compiled_by_several"]:
            out.append(
                f"{r['label']}: {r['compiled_by_several']} program(s) compiled by more than one "
                f"process ({', '.join(r['duplicated'])}; the extra compiles took "
                f"{r['duplicate_compile_cpu_seconds']:.2f} CPU s)"
            )
        if r["plan"] and r["plan"]["programs_split"]:
            out.append(
                f"{r['label']}: the scheduler split {r['plan']['programs_split']} program(s) "
                "over workers"
            )
    return out


def _ratios(base: list[dict], other: list[dict]) -> dict:
    """other / base for each run label: wall, CPU and programs compiled."""
    out = {}
    for b, o in zip(base, other, strict=True):

        def ratio(key, b=b, o=o):
            return o[key] / b[key] if b[key] else None

        out[b["label"]] = {
            "wall": ratio("wall_seconds"),
            "cpu": ratio("cpu_seconds"),
            "programs": ratio("programs_compiled"),
        }
    return out


def run_cold(
    cases: tuple[str, ...],
    *,
    quick: bool = False,
    variants: tuple[str, ...] = (),
    work: Path | None = None,
    against: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """Run the cold cases (a subset of :data:`COLD_CASES`), each in fresh processes.

    Args:
        cases: which cases, in :data:`COLD_CASES` order.
        quick: small forms (``check_ci``: one claim; ``dmc_claims_cold``: one test;
            ``figures_cold``: ``--fast`` figures).
        variants: names in :data:`VARIANTS` to rerun each case with, ratios against the default.
        work: folder for the caches and logs (kept); default a temporary folder, removed.
        against: another source checkout (e.g. the previous release): each case runs with its
            gflab too, reported as the variant ``against`` with ratios against this one.
        progress: called with one line per command started.

    Returns:
        One dict per case: ``name``, ``kind`` (``"cold"``), ``status`` (``ok`` or ``fail``),
        ``problems`` (why not ok), ``runs`` (one per command, see :func:`run_command` and
        :func:`probe_summary`, plus ``label``, ``cpu_share`` of each phase in the command's
        CPU seconds, ``cache_files``, ``export_files``, ``store_files``, ``work``) and
        ``variants`` (per variant: ``name``, ``env``, ``skipped`` with a note, or ``runs``,
        ``ratios`` = variant / default per run label and ``problems``).
    """
    from gflab.theory.errors import GflabInputError

    bad = [c for c in cases if c not in COLD_CASES]
    if bad:
        raise GflabInputError("only", "a comma list of " + ", ".join(COLD_CASES), ",".join(bad))
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        raise GflabInputError("variants", "a comma list of " + ", ".join(VARIANTS), ",".join(bad))
    say = progress or (lambda s: None)
    tmp = None
    if work is None:
        tmp = tempfile.TemporaryDirectory(prefix="gflab-bench-")
        work = Path(tmp.name)
    try:
        out = []
        for name in (c for c in COLD_CASES if c in cases):
            runner = _RUNNERS[name]
            cwork = work / name
            runs = runner(cwork, {}, quick, say, ROOT)
            problems = _problems(name, runs)
            case = {
                "name": name,
                "kind": "cold",
                "quick": quick,
                "status": "fail" if problems else "ok",
                "problems": problems,
                "runs": runs,
                "variants": [],
            }
            for v in variants:
                venv, meaning = VARIANTS[v]
                missing = [k for k in venv if not reads_variable(k)]
                if missing:
                    case["variants"].append(
                        {
                            "name": v,
                            "env": venv,
                            "skipped": f"{', '.join(missing)} is not read by this gflab",
                        }
                    )
                    continue
                vwork = work / f"{name}-{v}"
                vruns = runner(vwork, venv, quick, say, ROOT)
                case["variants"].append(
                    {
                        "name": v,
                        "env": venv,
                        "meaning": meaning,
                        "runs": vruns,
                        "ratios": _ratios(runs, vruns),
                        "problems": _problems(name, vruns),
                    }
                )
            if against is not None:
                vwork = work / f"{name}-against"
                vruns = runner(vwork, {}, quick, say, Path(against).resolve())
                case["variants"].append(
                    {
                        "name": "against",
                        "env": {},
                        "code": str(Path(against).resolve()),
                        "meaning": "the same case with another checkout's gflab",
                        "runs": vruns,
                        "ratios": _ratios(runs, vruns),
                        "problems": _problems(name, vruns),
                    }
                )
            out.append(case)
        return out
    finally:
        if tmp is not None:
            tmp.cleanup()


def format_cold(cases: list[dict]) -> str:
    """The cold cases as a table.

    Args:
        cases: :func:`run_cold`'s result.

    Returns:
        One line per command, then each case's problems and its variants with their ratios.
    """
    lines = [
        "",
        f"{'cold case':<30} {'wall s':>8} {'cpu s':>8} {'trace':>6} {'lower':>6} {'compile':>7} "
        f"{'programs':>8} {'files':>6} {'hits':>5} {'2+ procs':>8}",
    ]

    def row(label, r):
        sh = r["cpu_share"]
        pct = [f"{100 * sh[p]:.0f}%" if sh[p] is not None else "-" for p in _PHASES]
        return (
            f"{label:<30} {r['wall_seconds']:>8.1f} {r['cpu_seconds']:>8.1f} {pct[0]:>6} "
            f"{pct[1]:>6} {pct[2]:>7} {r['programs_compiled']:>8} {r['cache_files']:>6} "
            f"{r['cache_hits']:>5} {r['compiled_by_several']:>8}"
        )

    for c in cases:
        for r in c["runs"]:
            lines.append(row(f"{c['name']} {r['label']}", r))
        lines += [f"  {c['name']}: {p}" for p in c["problems"]]
        for v in c["variants"]:
            if "skipped" in v:
                lines.append(f"  variant {v['name']}: skipped ({v['skipped']})")
                continue
            for r in v["runs"]:
                q = v["ratios"][r["label"]]
                lines.append(
                    row(f"  {v['name']} {r['label']}", r)
                    + f"  variant/default: wall {_x(q['wall'])}, cpu {_x(q['cpu'])}, "
                    f"programs {_x(q['programs'])}"
                )
            lines += [f"  {c['name']} {v['name']}: {p}" for p in v["problems"]]
    lines += [
        "",
        "cpu s: the command and every process it waited for; trace/lower/compile: share of that",
        "CPU in JAX's tracing, lowering and compile-or-load; programs: persistent-cache misses",
        "(distinct programs compiled); files: entries in the empty cache afterwards; 2+ procs:",
        "programs compiled by more than one process (must be 0).",
    ]
    return "\n".join(lines)


def _x(v) -> str:
    return "-" if v is None else f"{v:.2f}x"
