"""MkDocs hook: serve the repository's notebooks/*.py as site pages under notebooks/.

The notebooks live at the repository root (they are run by the tests and by users from there); the
site is built from docs/. This adds them to the file collection before mkdocs-jupyter looks for
notebooks (hence the high priority), so they are rendered without a copy in docs/.
"""

from __future__ import annotations

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
