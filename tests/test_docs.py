"""The documentation site: the gallery covers every figure and demo, the theory reference has every
section the code cites, and `mkdocs build --strict` (what `make docs` runs) succeeds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from gflab.figures.demos import DEMO_NAMES
from gflab.figures.registry import registry

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def gallery_gaps(index_md: str, figure_names, demo_names) -> list[str]:
    """What the gallery page lacks: for each figure its thumbnail and `gflab figures --only NAME`,
    for each demo its GIF and `gflab demo NAME`, with the image file present in docs/img/."""
    gaps = []
    for name in figure_names:
        if f"](img/{name}.png)" not in index_md or f"gflab figures --only {name}`" not in index_md:
            gaps.append(f"figure {name}: gallery entry")
        elif not (DOCS / "img" / f"{name}.png").is_file():
            gaps.append(f"figure {name}: docs/img/{name}.png")
    for name in demo_names:
        if f"](img/demo_{name}.gif)" not in index_md or f"gflab demo {name}`" not in index_md:
            gaps.append(f"demo {name}: gallery entry")
        elif not (DOCS / "img" / f"demo_{name}.gif").is_file():
            gaps.append(f"demo {name}: docs/img/demo_{name}.gif")
    return gaps


def test_gallery_shows_every_figure_and_demo():
    index_md = (DOCS / "index.md").read_text()
    figures = sorted(registry())
    assert len(figures) >= 13  # the registry itself must be populated for this check to mean much
    assert gallery_gaps(index_md, figures, DEMO_NAMES) == []
    # the check can fail: drop one entry and it is reported
    cut = index_md.replace("](img/sgf_l2.png)", "](img/missing.png)")
    assert gallery_gaps(cut, figures, DEMO_NAMES) == ["figure sgf_l2: gallery entry"]


def test_make_thumbnails_renders_every_demo():
    makefile = (ROOT / "Makefile").read_text()
    (line,) = re.findall(r"^DEMOS := (.*)$", makefile, flags=re.M)
    assert tuple(line.split()) == DEMO_NAMES


def test_theory_reference_has_every_cited_section():
    """Code and notebooks cite "docs/theory.md §2.x": each cited section must be a heading there."""
    theory = (DOCS / "theory.md").read_text()
    headings = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)[. ]", theory, flags=re.M))
    cited = set()
    for folder in ("theory", "sims", "proofs_checks", "figures", "gflab", "notebooks"):
        for path in (ROOT / folder).rglob("*.py"):
            cited |= set(re.findall(r"docs/theory\.md §(\d+(?:\.\d+)?)", path.read_text()))
    assert {"2.1", "2.2", "2.3", "2.4"} <= cited | headings
    assert cited - headings == set(), (
        f"sections cited but missing from docs/theory.md: {cited - headings}"
    )


def test_site_builds_strict(tmp_path):
    # notebooks are rendered without executing them here (the notebook tests execute them; the
    # executed build, `make docs`, took 79 s on the shared 2-core machine, this one ~10-35 s)
    env = {
        **os.environ,
        "GFLAB_DOCS_EXECUTE": "false",
        # its own notebook cache: sharing .cache/ would evict `make docs`'s executed notebooks
        "GFLAB_DOCS_CACHE": str(tmp_path / "nbcache"),
        "NO_MKDOCS_2_WARNING": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    site = tmp_path / "site"
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "WARNING" not in out.stderr
    for page in ("index.html", "theory.html", "results.html", "notebooks/01_depth.html"):
        assert (site / page).is_file(), page
    api = (site / "api" / "theory.html").read_text()
    # the API page documents the public functions, with their docstrings' Args sections
    # (the measures are documented where they live, theory.measures: theory.stable_rank etc. are
    # compatibility aliases outside theory.__all__)
    for anchor in ("measures.stable_rank", "measures.effective_rank", "closed_forms.mimic_limit"):
        assert f'id="theory.{anchor}"' in api, anchor
    assert ":func:" not in api and ":mod:" not in api
    home = (site / "index.html").read_text()
    assert home.count('src="img/') == len(registry()) + len(DEMO_NAMES)
