// MathJax 3 for pymdownx.arithmatex (generic mode: \( \) inline, \[ \] display) on the Markdown
// pages, and for the notebooks' Markdown cells, which mkdocs-jupyter renders with $...$ and $$...$$
// left as written (class jp-RenderedMarkdown): both are typeset, nothing else on a page is.
//
// MathJax skips every element whose class matches ignoreHtmlClass (here: all) unless its own class
// matches processHtmlClass, and that test is made element by element: the math of a notebook cell
// sits in its paragraphs and list items, not in the cell's own element. So before the first
// typeset, every element of a notebook Markdown cell (except code) gets the class gflab-nbmath.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: { ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex|gflab-nbmath" },
  svg: { fontCache: "global" },
  startup: {
    ready() {
      document.querySelectorAll(".jp-RenderedMarkdown, .jp-RenderedMarkdown *").forEach((el) => {
        if (!el.closest("code, pre")) el.classList.add("gflab-nbmath");
      });
      MathJax.startup.defaultReady();
    },
  },
};
