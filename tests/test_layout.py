"""The layout is one-way: each module imports only from the layers below it.

Read from the source with ``ast`` (nothing is imported), so an import cycle, a
module that reaches up a layer, or an import hidden inside a function fails
here with the modules named, before it can hide as a lazily imported cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "indexcalc"

# bottom to top; a module may import its own layer's modules and any layer below
LAYERS = [
    {"errors", "memo", "naming", "limits", "version", "display", "later"},
    {"ir"},
    {"functions", "implementations", "model"},
    {"syntax", "calculus"},
    {"read", "compiler"},
    {"derivative"},
    {"api"},
    {"checking"},
    {"testing", "ui", "notebook"},
    {"__init__", "__main__"},
]
# the one import inside a function: Expr.__str__ prints through the printer,
# which needs the function table, which needs the nodes (ir/nodes.py says so)
HOOK = ("ir.nodes", "read.text")
# deferred imports (start-up time): a package's ``__init__`` may load its own modules on
# first use through a PEP 562 ``__getattr__`` calling ``importlib.import_module``; the
# top-level package its public names (``LAZY`` in indexcalc/__init__.py), a subpackage
# (compiler/, read/) its submodules by name.  Nothing else calls ``import_module`` on our
# modules; compiler/backends.py calls it for the optional libraries (torch, jax).
OPTIONAL_LIBRARIES = "compiler.backends"
MAX_LINES = 460                 # "about 450"


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" and len(rel.parts) > 1 else rel.parts
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def own_imports(path: Path) -> list[tuple[str, bool, int]]:
    """(imported module, imported inside a function?, line) for indexcalc's own modules."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f)}
    out = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "indexcalc":
                names = [a.name for a in node.names]
            elif node.module.startswith("indexcalc."):
                base = node.module.removeprefix("indexcalc.")
                names = [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import at line {node.lineno}; write "
                                 "`from indexcalc.… import …`")
        elif isinstance(node, ast.Import):
            names = [a.name.removeprefix("indexcalc.") for a in node.names
                     if a.name.startswith("indexcalc.")]
        out += [(n, id(node) in inner, node.lineno) for n in names]
    return out


def resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def layer(module: str) -> int:
    top = module.split(".")[0]
    for k, names in enumerate(LAYERS):
        if top in names:
            return k
    raise AssertionError(f"module {module} is in no layer; add it to LAYERS in {__file__}")


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {m: set() for m in known}
    for m, path in known.items():
        for name, _, _ in own_imports(path):
            target = resolve(name, known)
            if target and target != m:
                edges[m].add(target)
    return edges


def test_every_module_is_in_a_layer():
    for m in modules():
        layer(m)


def test_imports_go_down_the_layers_only():
    wrong = [f"{m} (layer {layer(m)}) imports {t} (layer {layer(t)})"
             for m, targets in graph().items() for t in targets
             if layer(t) > layer(m) and (m, t) != HOOK]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    edges = graph()
    edges[HOOK[0]].discard(HOOK[1])
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)


def test_no_function_local_imports_of_our_own_modules():
    known = modules()
    local = [f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
             for m, path in known.items() for name, inside, line in own_imports(path)
             if inside and (m, resolve(name, known)) != HOOK]
    assert not local, "\n".join(local)


def _import_module_calls(tree: ast.AST) -> list[tuple[ast.Call, ast.AST | None]]:
    """Each ``importlib.import_module(...)`` call with the innermost function it is in."""
    inside: dict[int, ast.AST] = {}
    for f in ast.walk(tree):                     # outer functions come before inner ones
        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside.update({id(n): f for n in ast.walk(f)})
    return [(n, inside.get(id(n))) for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr == "import_module"]


def test_deferred_imports_load_only_the_packages_own_modules():
    known = modules()
    found = set()
    for m, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call, function in _import_module_calls(tree):
            where = f"{path.relative_to(PACKAGE.parent)}:{call.lineno}"
            if m == OPTIONAL_LIBRARIES:
                continue
            assert path.name == "__init__.py" and function is not None \
                and function.name == "__getattr__", f"{where}: import_module outside a " \
                "package's __getattr__"
            arg = ast.unparse(call.args[0])
            if m == "__init__":
                assert arg == "module", where         # a value of LAZY
            else:
                assert arg == "f'{__name__}.{name}'", f"{where}: loads {arg}, not a submodule"
            found.add(m)
    assert {"__init__", "compiler", "read"} <= found
    lazy = ast.literal_eval(next(
        n.value for n in ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8")).body
        if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "LAZY"))
    missing = [v for v in lazy.values() if v.removeprefix("indexcalc.") not in known]
    assert not missing, missing


def test_the_cycle_check_sees_a_cycle(tmp_path, monkeypatch):
    """The checks above can fail: a planted upward import is found."""
    fake = tmp_path / "indexcalc"
    (fake / "ir").mkdir(parents=True)
    (fake / "errors.py").write_text("from indexcalc.ir import nodes\n")
    (fake / "ir" / "__init__.py").write_text("")
    (fake / "ir" / "nodes.py").write_text("def f():\n    from indexcalc.errors import X\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    assert graph()["errors"] == {"ir", "ir.nodes"}
    try:
        test_imports_go_down_the_layers_only()
    except AssertionError as error:
        assert "errors (layer 0) imports ir.nodes (layer 1)" in str(error)
    else:
        raise AssertionError("the upward import was not found")
    try:
        test_no_import_cycles()
    except AssertionError as error:
        assert "import cycle" in str(error)
    else:
        raise AssertionError("the cycle was not found")


def test_modules_are_a_few_hundred_lines():
    """Over MAX_LINES only for one algorithm, said in the module's docstring."""
    long = []
    for m, path in modules().items():
        text = path.read_text(encoding="utf-8")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if text.count("\n") > MAX_LINES and "one algorithm" not in doc:
            long.append(f"{m}: {text.count(chr(10))} lines")
    assert not long, "\n".join(long)


def test_the_readme_module_table_names_every_module():
    """The README's "How it is built" table is the map a newcomer reads; a module it
    does not name is a room missing from the map."""
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## How it is built"):]
    table = table[:table.index("\n## ", 1)] if "\n## " in table[1:] else table
    missing = [str(p.relative_to(PACKAGE)) for p in sorted(PACKAGE.rglob("*.py"))
               if not p.stem.startswith("__") and f"`{p.stem}" not in table]
    assert not missing, f"modules the README's module table does not name: {missing}"
