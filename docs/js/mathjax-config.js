// MathJax 3 for pymdownx.arithmatex (generic mode: \( \) inline, \[ \] display) on the Markdown
// pages, and for the notebooks' Markdown cells, which mkdocs-jupyter renders with $...$ and $$...$$
// left as written (class jp-RenderedMarkdown): both are typeset, nothing else on a page is.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: { ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex|jp-RenderedMarkdown|jp-MarkdownOutput" },
  svg: { fontCache: "global" },
};
