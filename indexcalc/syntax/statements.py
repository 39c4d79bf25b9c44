"""Lowering: from the surface tree to a ``Model``, one statement at a time.

What a piece of notation means depends on the names around it, so this is
where meaning is decided.  ``lower`` makes the ``scope.Scope`` of the text,
declares every tensor first, then lowers each statement in order:
declarations, definitions (``z_k = ...`` in index form or ``r = x W1 + b1`` in
matrix form), questions and checks (``questions``), and assumptions; then
``settle`` gives every index its dimension.  Expressions are lowered by
``expressions``; the state every module shares is the ``Scope``.
"""

from __future__ import annotations

from indexcalc.errors import IndexcalcError, IndexMismatchError, ParseError, ShapeError
from indexcalc.functions import known
from indexcalc.ir import Expr, Index, Mul, Var, rename, var_names, walk
from indexcalc.model import Assume, Check, Declaration, Definition, Model
from indexcalc.syntax import affine_reads, expressions, infer, matrix_form, questions, settle
from indexcalc.syntax import tree as S
from indexcalc.syntax.scope import (
    DELTA_NAMES,
    QUESTION_WORDS,
    Ctx,
    Scope,
    Tensor,
    Val,
    index_names_in,
    show_free,
)


def lower(source: S.Source) -> Model:
    """The model of a parsed text (see model.Model)."""
    return run(Scope(source.text), source.statements)


def run(sc: Scope, statements: list) -> Model:
    sc.tensor_names = tensor_names(statements)
    sc.operand_names = operand_names(statements)
    for st in statements:
        for a in ("lhs", "rhs", "expr", "claim", "question"):
            if hasattr(st, a):
                sc.index_names |= index_names_in(getattr(st, a))
    sc.defined_later = {st.lhs.name: st.pos for st in statements
                        if isinstance(st, S.DefStmt) and isinstance(st.lhs, S.Name)}
    for st in statements:
        if isinstance(st, S.DeclStmt):
            declare(sc, st)
        elif isinstance(st, S.FuncDeclStmt):
            declare_function(sc, st)
    for st in statements:
        try:
            statement(sc, st)
        except IndexcalcError as e:          # e.g. division by zero found while folding
            raise e.at(sc.text, st.pos.line, st.pos.column) from None
    return settle.finish(sc)


def operand_names(statements: list) -> set[str]:
    """The names the text uses as a bare operand somewhere (``s + s``), not just before a
    parenthesis: such a name is a tensor, so ``s (x_i u_j)`` elsewhere is a product."""
    out: set[str] = set()
    stack = [getattr(st, a) for st in statements
             for a in ("lhs", "rhs", "expr", "claim", "question") if hasattr(st, a)]
    while stack:
        n = stack.pop()
        if isinstance(n, S.Chain):
            for k, (_, f) in enumerate(n.factors):
                following = n.factors[k + 1] if k + 1 < len(n.factors) else None
                if (isinstance(f, S.Name) and following is not None and following[0] == ""
                        and isinstance(following[1], S.Paren)):
                    stack.extend(S.children(f))        # f (z): a call or a product, undecided
                else:
                    stack.append(f)
            continue
        if isinstance(n, S.Name):
            out.add(n.name)
        stack.extend(S.children(n))
    return out


def tensor_names(statements: list) -> dict[str, int | None]:
    """The names the text uses as tensors: declared, defined, or written with indices
    (with the rank of the first such use, which a bare use before it takes).  Where
    pi, π, e or I is one of them it is that tensor, elsewhere the constant."""
    names: dict[str, int | None] = {}
    for st in statements:
        if isinstance(st, S.DeclStmt):
            names.setdefault(st.name, None)
        elif isinstance(st, S.DefStmt) and isinstance(st.lhs, S.Name):
            names.setdefault(st.lhs.name, None)
        stack = [getattr(st, a) for a in ("lhs", "rhs", "expr", "claim", "question")
                 if hasattr(st, a)]
        while stack:
            n = stack.pop()
            if isinstance(n, S.Name) and n.indices is not None:
                if names.get(n.name) is None:
                    names[n.name] = len(n.indices)
            stack.extend(reversed(S.children(n)))
    return names


def statement(sc: Scope, st) -> None:
    sc.hints = {}
    for node in (getattr(st, a) for a in ("rhs", "expr", "claim", "lhs") if hasattr(st, a)):
        for name, rank in infer.rank_hints(node, sc.unknown).items():
            sc.hints.setdefault(name, rank)
    if isinstance(st, S.DeclStmt):
        sc.done.append((declaration(sc, st), None))
    elif isinstance(st, S.DefStmt):
        definition(sc, st)
    elif isinstance(st, S.ExprStmt):
        expr_statement(sc, st)
    elif isinstance(st, S.CheckStmt):
        check(sc, st)
    elif isinstance(st, S.AssumeStmt):
        assume(sc, st)


def declare(sc: Scope, st: S.DeclStmt) -> None:
    if st.name in sc.tensors:
        first = sc.tensors[st.name].pos
        raise sc.err(ShapeError, f"{st.name} is declared twice (first at line "
                     f"{first.line})", st.pos)
    if known(st.name) or st.name in DELTA_NAMES or st.name in sc.declared_functions:
        raise sc.err(ParseError, f"{st.name} is a function name; choose another name "
                     f"for the tensor", st.pos)
    for d in st.shape:
        if isinstance(d, str):
            sc.dim_symbols.setdefault(d, st.pos)
    if st.symmetric and (len(st.shape) != 2 or not sc.dims.unify(
            sc.dims.fixed(st.shape[0]), sc.dims.fixed(st.shape[1]))):
        raise sc.err(ShapeError, f"only a square matrix can be symmetric; {st.name} has "
                     f"shape {sc.show_dims(st.shape)}", st.pos)
    dims = tuple(sc.dims.fixed(d) for d in st.shape)
    sc.tensors[st.name] = Tensor(st.name, dims, declared=True, symmetric=st.symmetric,
                                 pos=st.pos, pad=st.pad)


def declare_function(sc: Scope, st: S.FuncDeclStmt) -> None:
    """``phi : function`` (elementwise), ``Loss : function scalar`` (a scalar of its whole
    argument): an opaque function of any name."""
    if st.name in sc.tensors or st.name in sc.declared_functions:
        raise sc.err(ParseError, f"{st.name} is declared twice", st.pos)
    if known(st.name) or st.name in DELTA_NAMES or st.name in QUESTION_WORDS:
        raise sc.err(ParseError, f"{st.name} is already a function indexcalc knows; "
                     "declare an opaque function under another name", st.pos)
    sc.declared_functions[st.name] = st.scalar


def declaration(sc: Scope, st: S.DeclStmt) -> Declaration:
    return Declaration(st.name, tuple(st.shape), st.symmetric, sc.span(st.pos))


def definition(sc: Scope, st: S.DefStmt) -> None:
    lhs = st.lhs
    if not isinstance(lhs, S.Name):
        hint = (" (to compare a derivative with your own result write "
                "`check dE/dx == ...`)" if _looks_like_question(lhs) else "")
        raise sc.err(ParseError, "the left-hand side of a definition must be a name, "
                     f"like z_k or r{hint}", lhs.pos)
    name = lhs.name
    check_definable(sc, name, lhs.pos)
    ctx = sc.new_ctx(lhs, st.rhs)
    ctx.defining = name
    if lhs.indices is None:
        val = expressions.lower_value(sc, st.rhs, ctx)
        indices, matrix_form = matrix_definition(sc, name, val, st)
    else:
        indices = lhs_indices(sc, lhs, ctx)
        ctx.lhs = ctx.protected = frozenset(lhs.indices)
        val = expressions.lower_value(sc, st.rhs, ctx)
        index_definition(sc, lhs, val, st)
        matrix_form = False
    dims = tuple(ctx.idx[i.name] for i in indices)
    no_steps(sc, val.expr, st.rhs.pos)
    register_definition(sc, name, dims, lhs.pos)
    d = Definition(name, indices, val.expr, matrix_form, sc.span(st.pos),
                   sc.statement_source(st.pos))
    sc.done.append((d, ctx))


def check_definable(sc: Scope, name: str, pos: S.Pos) -> None:
    t = sc.tensors.get(name)
    if t is not None and t.defined:
        raise sc.err(ParseError, f"{name} is defined twice (first at line "
                     f"{t.pos.line}); give the new quantity another name", pos)
    if t is not None and not t.declared:
        raise sc.err(ParseError, f"{name} is used (line {t.pos.line}) before it is "
                     f"defined; define it first", pos)
    if t is not None:                   # declared, then defined: not used in between
        for d, _ in sc.done:
            if isinstance(d, Definition) and name in var_names(d.expr):
                raise sc.err(ParseError, f"{name} is used in {d.name} (line "
                             f"{d.span.line}) before it is defined; define it first",
                             pos)
    if (known(name) or name in DELTA_NAMES or name in QUESTION_WORDS
            or name in sc.declared_functions):
        raise sc.err(ParseError, f"{name} is a function name; choose another name", pos)


def lhs_indices(sc: Scope, lhs: S.Name, ctx: Ctx) -> tuple[Index, ...]:
    seen = set()
    affine_reads.no_shift(sc, lhs, "the left-hand side of a definition")
    for i in lhs.indices:
        if i in seen:
            raise sc.err(IndexMismatchError, f"index {i} appears twice on the "
                         f"left-hand side {sc.src(lhs.pos)}; each index of a "
                         "definition must be different", lhs.pos)
        seen.add(i)
    return tuple(sc.index(i, ctx) for i in lhs.indices)


def matrix_definition(sc: Scope, name, val: Val, st: S.DefStmt):
    if val.indexed:
        free = ", ".join(sorted(i.name for i in val.expr.free))
        raise sc.err(IndexMismatchError, f"{name} has no indices but the right side "
                     f"has free indices {free}; write {name}_{free.replace(', ', '')} "
                     f"= ... (or {name}[...] for multi-letter indices)", st.pos)
    return (val.axes or ()), True


def index_definition(sc: Scope, lhs: S.Name, val: Val, st: S.DefStmt) -> None:
    if val.matrix:
        raise sc.err(IndexMismatchError, f"the right side is a matrix-form expression "
                     f"of rank {val.rank}; drop the indices on the left "
                     f"({lhs.name} = ...) or index the right side, e.g. (...)_"
                     f"{''.join(lhs.indices)}", st.rhs.pos)
    right = {i.name for i in val.expr.free}
    extra = sorted(right - set(lhs.indices))
    if extra:
        one = len(extra) == 1
        names = ", ".join(extra)
        joined = "".join(extra) if all(len(n) == 1 for n in extra) else "{" + ",".join(extra) + "}"
        raise sc.err(IndexMismatchError, f"{names} {'is' if one else 'are'} free on the "
                     f"right but not on the left of {sc.src(st.pos)}: every free index of "
                     "the right side must be on the left (a term may leave out indices of "
                     "the left, and is constant along them, but may not add its own); sum "
                     f"{'it' if one else 'them'} (sum_{joined} ...) or add "
                     f"{'it' if one else 'them'} to the left "
                     f"({lhs.name}_{''.join(lhs.indices)}{''.join(extra)} = ...)",
                     first_use(st.rhs, extra[0]))


def first_use(node, index: str) -> S.Pos:
    """Where ``index`` is first written in a surface tree (else the tree's start)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if any(index in (getattr(n, a, None) or ()) for a in ("indices", "over", "out")):
            return n.pos
        stack.extend(reversed(S.children(n)))
    return node.pos


def register_definition(sc: Scope, name: str, dims: tuple[str, ...], pos: S.Pos) -> None:
    t = sc.tensors.get(name)
    if t is None:
        sc.tensors[name] = Tensor(name, dims, defined=True, pos=pos)
        return
    if len(t.dims) != len(dims) or not all(sc.dims.unify(a, b)
                                          for a, b in zip(t.dims, dims)):
        raise sc.err(ShapeError, f"{name} is declared with shape "
                     f"{sc.show_vars(t.dims)} but defined with shape "
                     f"{sc.show_vars(dims)}", pos)
    t.defined, t.pos = True, pos


def expr_statement(sc: Scope, st: S.ExprStmt) -> None:
    q = questions.question(sc, st.expr, st.pos)
    if q is None:
        expressions.lower_value(sc, st.expr, sc.new_ctx(st.expr))     # report errors inside first
        raise sc.err(ParseError, "this expression is not a statement; a statement is a "
                     "declaration (x : vector[n]), a definition (z_k = ...), a question "
                     "(dE/dz_k, grad(E, W)), `check QUESTION == CLAIM` or "
                     "`assume LHS = RHS`", st.pos)
    sc.done.append(q)


def check(sc: Scope, st: S.CheckStmt) -> None:
    """``check Q == e1 == e2 ...``: every expression of the chain is lowered as a
    claim about Q, with Q's indices; ``check δ2 = Q == ...`` also names the result
    for later checks (a step tensor: claims may use it, definitions may not)."""
    q = questions.question(sc, st.question, st.pos)
    if q is None:
        raise sc.err(ParseError, "check needs a derivative on the left of ==, like "
                     "`check dE/dz_k == o_k - t_k`", st.question.pos)
    question, ctx = q
    nodes = (st.claim, *st.more)
    ctx.used |= set(sc.dim_symbols)               # an index named m beside dimension m reads ill
    for node in nodes:
        ctx.used |= index_names_in(node)          # fresh indices must avoid the claims'
    filled, first = questions.check_claim(sc, question, ctx, st.claim)
    axes = _question_axes(filled)
    chain = [first]
    for node in st.more:
        qk, claim = questions.check_claim(sc, question, ctx, node)
        mapping = {a: b for a, b in zip(_question_axes(qk), axes) if a != b}
        for a, b in mapping.items():
            sc.unify(ctx.idx[a.name], ctx.idx[b.name], lambda: "the expressions of a "
                     "chain must all have the derivative's shape", node.pos)
        chain.append(rename(claim, mapping) if mapping else claim)
    if st.name is not None:
        name_step(sc, st, tuple(ctx.idx[a.name] for a in axes))
    sc.done.append((Check(filled, first, sc.span(st.pos), sc.statement_source(st.pos),
                          tuple(chain) if st.more else (), st.name), ctx))


def _question_axes(q) -> tuple[Index, ...]:
    return tuple(q.of_indices or ()) + tuple(i for w in q.wrt for i in (w.indices or ()))


def name_step(sc: Scope, st: S.CheckStmt, dims: tuple[str, ...]) -> None:
    """``check δ2 = ...``: δ2 stands for the checked derivative in later checks."""
    t = sc.tensors.get(st.name)
    if t is not None:
        raise sc.err(ParseError, f"{st.name} is already a tensor of the model (line "
                     f"{t.pos.line}); name the checked step another way", st.pos)
    if known(st.name) or st.name in DELTA_NAMES or st.name in QUESTION_WORDS:
        raise sc.err(ParseError, f"{st.name} is a function name; choose another name",
                     st.pos)
    sc.tensors[st.name] = Tensor(st.name, dims, declared=True, pos=st.pos, step=True)


def no_steps(sc: Scope, e: Expr, pos: S.Pos) -> None:
    """A named check step may be used in later checks only."""
    steps = {n for n, t in sc.tensors.items() if t.step}
    if not steps:
        return
    for name in sorted({v.name for v in walk(e) if isinstance(v, Var)} & steps):
        t = sc.tensors.get(name)
        if t is not None and t.step:
            raise sc.err(ParseError, f"{name} names a checked step (line {t.pos.line}); it "
                         "may be used in later checks, not in the model", pos)


def assume(sc: Scope, st: S.AssumeStmt) -> None:
    ctx = sc.new_ctx(st.lhs, st.rhs)
    left = expressions.lower_value(sc, st.lhs, ctx)
    right = expressions.lower_value(sc, st.rhs, ctx)
    no_steps(sc, Mul((left.expr, right.expr)), st.pos)
    if left.matrix and right.matrix:
        right = Val(matrix_form.align(sc, left, right, ctx, st.lhs.pos, st.rhs.pos, "="), left.axes)
    elif not left.scalar and not right.scalar and left.expr.free != right.expr.free:
        raise sc.err(IndexMismatchError, "the two sides of an assumption must have the "
                     f"same free indices: {show_free(left)} and "
                     f"{show_free(right)}", st.pos)
    sc.done.append((Assume(left.expr, right.expr, sc.span(st.pos),
                           sc.statement_source(st.pos)), ctx))


def _looks_like_question(node) -> bool:
    return isinstance(node, (S.Chain, S.Partial)) or (
        isinstance(node, S.Call) and node.name in QUESTION_WORDS)
