// Renders display-math LaTeX with KaTeX and with MathJax 3 (TeX input, the base
// and ams packages, as Jupyter loads them), failing on any error.  Reads a JSON
// list of strings on standard input; prints "ok N" or the first failure.
// Used by tests/test_notebook.py when node and these packages are installed
// (NODE_PATH pointing at a node_modules with katex and mathjax-full).
const katex = require("katex");
const {mathjax} = require("mathjax-full/js/mathjax.js");
const {TeX} = require("mathjax-full/js/input/tex.js");
const {SVG} = require("mathjax-full/js/output/svg.js");
const {liteAdaptor} = require("mathjax-full/js/adaptors/liteAdaptor.js");
const {RegisterHTMLHandler} = require("mathjax-full/js/handlers/html.js");
require("mathjax-full/js/input/tex/base/BaseConfiguration.js");
require("mathjax-full/js/input/tex/ams/AmsConfiguration.js");

RegisterHTMLHandler(liteAdaptor());
const tex = new TeX({packages: ["base", "ams"], formatError: (jax, err) => { throw err; }});
const doc = mathjax.document("", {InputJax: tex, OutputJax: new SVG()});

const strings = JSON.parse(require("fs").readFileSync(0, "utf8"));
for (const s of strings) {
  try {
    katex.renderToString(s, {displayMode: true, throwOnError: true, strict: "error"});
  } catch (e) {
    console.log("KaTeX: " + e.message + "\n" + s);
    process.exit(1);
  }
  try {
    doc.convert(s, {display: true});
  } catch (e) {
    console.log("MathJax: " + (e.message || e) + "\n" + s);
    process.exit(1);
  }
}
console.log("ok " + strings.length);
