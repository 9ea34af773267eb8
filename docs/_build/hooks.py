"""MkDocs hook: serve the repository's notebooks/*.py as site pages under notebooks/.

The notebooks live at the repository root (they are run by the tests and by users from there); the
site is built from docs/. This adds them to the file collection before mkdocs-jupyter looks for
notebooks (hence the high priority), so they are rendered without a copy in docs/.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]


@event_priority(100)
def on_files(files: Files, config) -> Files:
    for path in sorted((ROOT / "notebooks").glob("*.py")):
        files.append(
            File(
                f"notebooks/{path.name}",
                src_dir=str(ROOT),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files


# Sphinx cross-reference roles (":func:`name`") in docstrings: mkdocstrings renders the name as
# code and leaves the role's prefix as text; drop the prefix so the API pages read cleanly.
_ROLE = re.compile(r":(?:mod|func|class|meth|data|attr|exc|obj):(?=<code>)")


def on_page_content(html: str, page, config, files) -> str:
    return _ROLE.sub("", html)


# The API page of gflab.sims gets one table per model: every config field and method
# hyper-parameter with its kind, default and meaning, from the same table the CLI builds its
# flags from (gflab.sims.schema.params), so the page cannot drift from `gflab simulate --help`.
_FIELDS_MARK = "<!-- gflab:config-fields -->"


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # Markdown would read the CLI's plain text: | ends a cell, * starts emphasis (mask*W ... W*)
    return text.replace("|", "\\|").replace("*", "\\*").replace("\n", " ")


def config_fields_markdown() -> str:
    from gflab.sims.methods import Method
    from gflab.sims.schema import MODELS, params

    out = []
    for model, cls in MODELS.items():
        out.append(f"### `{cls.__name__}` (`gflab simulate {model}`)\n")
        out.append("| field | kind | default | methods | meaning |")
        out.append("|---|---|---|---|---|")
        for p in params(model):
            default = "required" if p.required else f"`{p.default!r}`"
            methods = ", ".join(p.methods) if p.methods else "all"
            # the Python kind: a method field holds a Method object (the CLI reads its spelling)
            kind = "Method" if isinstance(p.default, Method) else p.kind
            out.append(
                f"| `{p.name}` | {_cell(kind)} | {_cell(default)} | {_cell(methods)} | "
                f"{_cell(p.help) or '—'} |"
            )
        out.append("")
    return "\n".join(out)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if _FIELDS_MARK in markdown:
        markdown = markdown.replace(_FIELDS_MARK, config_fields_markdown())
    return markdown


# `make docs` executes the notebooks in a Jupyter kernel on this machine. Its ZeroMQ channels are
# encrypted with CurveZMQ keys that jupyter_client provisions when the kernel spec supports it
# (ipykernel's does): docs/_build/jupyter/jupyter_nbconvert_config.json sets
# KernelManager.transport_encryption = "auto". Without it ipykernel warns once per notebook that it
# runs over TCP without encryption. The folder is added to Jupyter's config path for this build
# only; a user's own Jupyter configuration keeps precedence.
JUPYTER_CONFIG = ROOT / "docs" / "_build" / "jupyter"


def on_config(config):
    path = os.environ.get("JUPYTER_CONFIG_PATH", "")
    if str(JUPYTER_CONFIG) not in path.split(os.pathsep):
        os.environ["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
            p for p in (path, str(JUPYTER_CONFIG)) if p
        )
    return config


# The embedded demos (docs/demos/NAME.html, made by `make thumbnails` with
# docs/_build/demo_pages.py) load plotly.js from demos/plotly.min.js, their player script from
# demos/player.js and their style from demos/player.css: one copy each, written here from the
# installed plotly package and from gflab.figures.demos.web (what `gflab demo --html` inlines), not
# committed.
def on_post_build(config):
    import plotly.offline

    from gflab.figures.demos.web import PAGE_CSS, PLAYER_JS

    demos = Path(config["site_dir"]) / "demos"
    if demos.is_dir():
        (demos / "plotly.min.js").write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
        (demos / "player.js").write_text(PLAYER_JS, encoding="utf-8")
        (demos / "player.css").write_text(PAGE_CSS, encoding="utf-8")
