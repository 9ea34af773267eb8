"""The installable package: a built wheel holds one namespace (``gflab.*``), runs from outside the
checkout, and keeps the first release's top-level names as deprecated aliases of the same modules."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEGACY = ("theory", "sims", "proofs_checks", "figures")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        cwd=out,
    )
    (whl,) = out.glob("gflab-*.whl")
    return whl


def test_wheel_has_one_namespace(wheel):
    """No top-level theory/sims/proofs_checks/figures in site-packages: only gflab, its metadata
    and the .pth of the legacy aliases; every layer and subpackage is inside gflab/."""
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"gflab", "gflab-legacy-names.pth", wheel.name.split("-py3")[0] + ".dist-info"}
    subs = ("theory", "sims", "sims/bridge", "sims/sweep", "proofs_checks", "figures/demos")
    assert [s for s in subs if f"gflab/{s}/__init__.py" not in names] == []


def _run_installed(wheel: Path, tmp_path: Path, code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a Python that sees the unpacked wheel (its .pth processed as by site) and
    the venv's dependencies, but neither this checkout nor its editable install (-S: no .pth of
    the venv is read), from a folder outside the checkout."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    deps = sysconfig.get_paths()["purelib"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), deps])
    prelude = f"import site; site.addsitedir({str(site)!r}); import sys; "
    return subprocess.run(
        [sys.executable, "-S", "-W", "always::DeprecationWarning", "-c", prelude + code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )


def test_installed_wheel_runs_and_keeps_the_old_names(wheel, tmp_path):
    code = (
        "import gflab.theory.dmf as new; import gflab.sims, gflab.proofs_checks, gflab.figures; "
        "assert " + repr(str(ROOT)) + " not in sys.path; "
        "assert new.__file__.startswith(" + repr(str(tmp_path)) + "), new.__file__; "
        "import theory.dmf; assert theory.dmf is new; "
        "from sims import LoRAConfig; from gflab.sims.config import LoRAConfig as L2; "
        "assert LoRAConfig is L2; print('ok')"
    )
    r = _run_installed(wheel, tmp_path, code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"
    assert "`import theory` is deprecated: the module is `gflab.theory`" in r.stderr


def test_installed_cli_simulates(wheel, tmp_path):
    """The console entry point's module runs a small solve from the installed package."""
    code = (
        "from gflab.cli import main; sys.exit(main(['simulate', 'lora', '--rows', '4', '--cols', "
        "'5', '--rank', '2', '--target-svals', '1,4', '--flow', 'gf', '--t1', '1', '--n-save', "
        "'3', '--json']))"
    )
    r = _run_installed(wheel, tmp_path, code)
    assert r.returncode == 0, r.stderr
    assert '"status"' in r.stdout


def test_checkout_legacy_import_is_the_same_module():
    """From a source checkout the folders themselves are importable under their old names: they
    redirect, so there is one module object per file (no duplicated classes or registries)."""
    code = (
        "import warnings; warnings.simplefilter('error'); import gflab.sims.config as new\n"
        "try:\n    import sims.config\nexcept DeprecationWarning as e:\n    print('warned', e)\n"
        "warnings.simplefilter('ignore'); import sims.config, proofs_checks.registry\n"
        "import gflab.proofs_checks.registry as reg\n"
        "assert sims.config is new and proofs_checks.registry is reg; print('same')"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "warned `import sims` is deprecated" in r.stdout and r.stdout.endswith("same\n")
