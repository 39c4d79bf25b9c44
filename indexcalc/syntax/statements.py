"""Lowering: from the surface tree to index-form IR, with names and shapes resolved.

What a piece of notation means depends on the names around it, so this is
where meaning is decided: whether ``W (x + b)`` is a product or ``f(z)`` a
call, which repeated indices the Einstein convention sums, how matrix-form
expressions (``x W1 + b1``) become index form with fresh indices, and which
dimension every index ranges over.

Dimensions are settled by unification: every tensor axis and every index name
of a statement has a dimension variable; declarations pin variables to
symbols (``n``) or numbers, and uses unify them.  While a statement is being
lowered its IR carries a placeholder dimension (``PENDING``) on every index,
and a per-statement table maps index names to dimension variables; once the
whole text is read, ``Lowerer.finish`` replaces the placeholders with the
settled dimensions (unresolved ones get generated symbols ``N``, ``N1``...).
Expression rules live in ``Lowerer``'s ``ex_*`` methods, one per surface node.
"""

from __future__ import annotations

from indexcalc.errors import (
    DerivativeError,
    IndexcalcError,
    IndexMismatchError,
    ParseError,
    ShapeError,
    UnknownNameError,
)
from indexcalc.functions import known
from indexcalc.ir import (
    Apply,
    Delta,
    DimSize,
    Expr,
    Index,
    Var,
    const,
    map_indices,
    rebuild,
    var_names,
    walk,
)
from indexcalc.model import (
    Assume,
    Check,
    Declaration,
    Definition,
    Model,
    Question,
    Span,
    Wrt,
)
from indexcalc.syntax import tree as S
from indexcalc.syntax.expressions import (
    DELTA_NAMES,
    QUESTION_WORDS,
    Ctx,
    DimTable,
    ExprLowering,
    Tensor,
    Val,
    ix,
)


def lower(source: S.Source) -> Model:
    """The model of a parsed text (see model.Model)."""
    return Lowerer(source.text).run(source.statements)


# ---------------------------------------------------------------- the lowerer

class Lowerer(ExprLowering):
    """Lowers the statements of one text, in order, into a Model."""

    def __init__(self, text: str):
        self.text = text
        self.dims = DimTable()
        self.tensors: dict[str, Tensor] = {}
        self.dim_symbols: dict[str, S.Pos] = {}
        self.functions: set[str] = set()
        self.done: list[tuple[object, Ctx]] = []

    # -------------------------------------------------------- errors

    def err(self, cls, message: str, pos: S.Pos) -> IndexcalcError:
        return cls(message, text=self.text, line=pos.line, column=pos.column)

    def src(self, pos: S.Pos) -> str:
        s = " ".join(self.text[pos.start:pos.end].split())
        return s if len(s) <= 60 else s[:57] + "..."

    # -------------------------------------------------------- statements

    def run(self, statements: list) -> Model:
        for st in statements:
            if isinstance(st, S.DeclStmt):
                self.declare(st)
        for st in statements:
            try:
                self.statement(st)
            except IndexcalcError as e:          # e.g. division by zero found while folding
                raise e.at(self.text, st.pos.line, st.pos.column) from None
        return self.finish()

    def statement(self, st) -> None:
        if isinstance(st, S.DeclStmt):
            self.done.append((self.declaration(st), None))
        elif isinstance(st, S.DefStmt):
            self.definition(st)
        elif isinstance(st, S.ExprStmt):
            self.expr_statement(st)
        elif isinstance(st, S.CheckStmt):
            self.check(st)
        elif isinstance(st, S.AssumeStmt):
            self.assume(st)

    def declare(self, st: S.DeclStmt) -> None:
        if st.name in self.tensors:
            first = self.tensors[st.name].pos
            raise self.err(ShapeError, f"{st.name} is declared twice (first at line "
                           f"{first.line})", st.pos)
        if known(st.name) or st.name in DELTA_NAMES:
            raise self.err(ParseError, f"{st.name} is a function name; choose another name "
                           f"for the tensor", st.pos)
        for d in st.shape:
            if isinstance(d, str):
                self.dim_symbols.setdefault(d, st.pos)
        if st.symmetric and (len(st.shape) != 2 or not self.dims.unify(
                self.dims.fixed(st.shape[0]), self.dims.fixed(st.shape[1]))):
            raise self.err(ShapeError, f"only a square matrix can be symmetric; {st.name} has "
                           f"shape {self.show_dims(st.shape)}", st.pos)
        dims = tuple(self.dims.fixed(d) for d in st.shape)
        self.tensors[st.name] = Tensor(st.name, dims, declared=True, symmetric=st.symmetric,
                                       pos=st.pos)

    def declaration(self, st: S.DeclStmt) -> Declaration:
        return Declaration(st.name, tuple(st.shape), st.symmetric, self.span(st.pos))

    def span(self, pos: S.Pos) -> Span:
        return Span(pos.line, pos.column)

    def statement_source(self, pos: S.Pos) -> str:
        return self.text[pos.start:pos.end].strip()

    def new_ctx(self, *nodes) -> Ctx:
        used = set()
        for node in nodes:
            used |= index_names_in(node)
        return Ctx({}, used)

    def definition(self, st: S.DefStmt) -> None:
        lhs = st.lhs
        if not isinstance(lhs, S.Name):
            hint = (" (to compare a derivative with your own result write "
                    "`check dE/dx == ...`)" if _looks_like_question(lhs) else "")
            raise self.err(ParseError, "the left-hand side of a definition must be a name, "
                           f"like z_k or r{hint}", lhs.pos)
        name = lhs.name
        self.check_definable(name, lhs.pos)
        ctx = self.new_ctx(lhs, st.rhs)
        ctx.defining = name
        if lhs.indices is None:
            val = self.lower_value(st.rhs, ctx)
            indices, matrix_form = self.matrix_definition(name, val, st)
        else:
            indices = self.lhs_indices(lhs, ctx)
            ctx.lhs = ctx.protected = frozenset(lhs.indices)
            val = self.lower_value(st.rhs, ctx)
            self.index_definition(lhs, val, st)
            matrix_form = False
        dims = tuple(ctx.idx[i.name] for i in indices)
        self.register_definition(name, dims, lhs.pos)
        d = Definition(name, indices, val.expr, matrix_form, self.span(st.pos),
                       self.statement_source(st.pos))
        self.done.append((d, ctx))

    def check_definable(self, name: str, pos: S.Pos) -> None:
        t = self.tensors.get(name)
        if t is not None and t.defined:
            raise self.err(ParseError, f"{name} is defined twice (first at line "
                           f"{t.pos.line}); give the new quantity another name", pos)
        if t is not None and not t.declared:
            raise self.err(ParseError, f"{name} is used (line {t.pos.line}) before it is "
                           f"defined; define it first", pos)
        if t is not None:                   # declared, then defined: not used in between
            for d, _ in self.done:
                if isinstance(d, Definition) and name in var_names(d.expr):
                    raise self.err(ParseError, f"{name} is used in {d.name} (line "
                                   f"{d.span.line}) before it is defined; define it first",
                                   pos)
        if known(name) or name in DELTA_NAMES or name in QUESTION_WORDS:
            raise self.err(ParseError, f"{name} is a function name; choose another name", pos)

    def lhs_indices(self, lhs: S.Name, ctx: Ctx) -> tuple[Index, ...]:
        seen = set()
        for i in lhs.indices:
            if i in seen:
                raise self.err(IndexMismatchError, f"index {i} appears twice on the "
                               f"left-hand side {self.src(lhs.pos)}; each index of a "
                               "definition must be different", lhs.pos)
            seen.add(i)
        return tuple(self.index(i, ctx) for i in lhs.indices)

    def matrix_definition(self, name, val: Val, st: S.DefStmt):
        if val.indexed:
            free = ", ".join(sorted(i.name for i in val.expr.free))
            raise self.err(IndexMismatchError, f"{name} has no indices but the right side "
                           f"has free indices {free}; write {name}_{free.replace(', ', '')} "
                           f"= ... (or {name}[...] for multi-letter indices)", st.pos)
        return (val.axes or ()), True

    def index_definition(self, lhs: S.Name, val: Val, st: S.DefStmt) -> None:
        if val.matrix:
            raise self.err(IndexMismatchError, f"the right side is a matrix-form expression "
                           f"of rank {val.rank}; drop the indices on the left "
                           f"({lhs.name} = ...) or index the right side, e.g. (...)_"
                           f"{''.join(lhs.indices)}", st.rhs.pos)
        right = {i.name for i in val.expr.free}
        left = set(lhs.indices)
        extra = sorted(right - left)
        if extra:
            raise self.err(IndexMismatchError, f"{', '.join(extra)} "
                           f"{'is' if len(extra) == 1 else 'are'} free on the right but not "
                           f"on the left of {self.src(st.pos)}; the free indices on both "
                           "sides must be the same (sum it, or add it to the left)", st.rhs.pos)
        missing = sorted(left - right)
        if missing and right:
            written = index_names_in(st.rhs)
            why = (f": {'it cancels' if len(missing) == 1 else 'they cancel'} there (the right "
                   f"side is {val.expr}); leave {', '.join(missing)} off the left"
                   if set(missing) <= written else "")
            raise self.err(IndexMismatchError, f"{', '.join(missing)} "
                           f"{'is' if len(missing) == 1 else 'are'} on the left but not free "
                           f"on the right of {self.src(st.pos)}{why}", lhs.pos)

    def register_definition(self, name: str, dims: tuple[str, ...], pos: S.Pos) -> None:
        t = self.tensors.get(name)
        if t is None:
            self.tensors[name] = Tensor(name, dims, defined=True, pos=pos)
            return
        if len(t.dims) != len(dims) or not all(self.dims.unify(a, b)
                                              for a, b in zip(t.dims, dims)):
            raise self.err(ShapeError, f"{name} is declared with shape "
                           f"{self.show_vars(t.dims)} but defined with shape "
                           f"{self.show_vars(dims)}", pos)
        t.defined, t.pos = True, pos

    # -------------------------------------------------------- questions

    def expr_statement(self, st: S.ExprStmt) -> None:
        q = self.question(st.expr, st.pos)
        if q is None:
            self.lower_value(st.expr, self.new_ctx(st.expr))     # report errors inside first
            raise self.err(ParseError, "this expression is not a statement; a statement is a "
                           "declaration (x : vector[n]), a definition (z_k = ...), a question "
                           "(dE/dz_k, grad(E, W)), `check QUESTION == CLAIM` or "
                           "`assume LHS = RHS`", st.pos)
        self.done.append(q)

    def check(self, st: S.CheckStmt) -> None:
        q = self.question(st.question, st.pos)
        if q is None:
            raise self.err(ParseError, "check needs a derivative on the left of ==, like "
                           "`check dE/dz_k == o_k - t_k`", st.question.pos)
        question, ctx = q
        question, claim = self.check_claim(question, ctx, st.claim)
        self.done.append((Check(question, claim, self.span(st.pos),
                                self.statement_source(st.pos)), ctx))

    def assume(self, st: S.AssumeStmt) -> None:
        ctx = self.new_ctx(st.lhs, st.rhs)
        left = self.lower_value(st.lhs, ctx)
        right = self.lower_value(st.rhs, ctx)
        if left.matrix and right.matrix:
            right = Val(self.align(left, right, ctx, st.lhs.pos, st.rhs.pos, "="), left.axes)
        elif not left.scalar and not right.scalar and left.expr.free != right.expr.free:
            raise self.err(IndexMismatchError, "the two sides of an assumption must have the "
                           f"same free indices: {self.show_free(left)} and "
                           f"{self.show_free(right)}", st.pos)
        self.done.append((Assume(left.expr, right.expr, self.span(st.pos),
                                 self.statement_source(st.pos)), ctx))

    def question(self, node, pos: S.Pos):
        """``(Question, ctx)`` if ``node`` has the shape of a question, else None."""
        ctx = self.new_ctx(node)
        if isinstance(node, S.Call) and node.name in QUESTION_WORDS:
            if len(node.args) != 2 or not all(isinstance(a, S.Name) for a in node.args):
                raise self.err(ParseError, f"{node.name} takes a function and a variable, "
                               f"like {node.name}(E, W)", node.pos)
            of, wrt = node.args
            wrts = [wrt, wrt] if node.name == "hessian" else [wrt]
            if node.name == "hessian" and wrt.indices is not None:
                raise self.err(DerivativeError, "hessian takes the whole variable, like "
                               "hessian(f, x)", wrt.pos)
            parts = [(of.name, of.indices, of.pos)] + [(w.name, w.indices, w.pos) for w in wrts]
            return self.make_question(node.name, parts, pos, ctx), ctx
        if not isinstance(node, S.Chain):
            return None
        ops = [op for op, _ in node.factors[1:]]
        if ops.count("/") != 1 or any(op not in ("", "/") for op in ops):
            return None
        cut = ops.index("/") + 1
        num = self.diff_operand([f for _, f in node.factors[:cut]])
        den = self.diff_operand([f for _, f in node.factors[cut:]])
        if num is None or den is None:
            return None
        return self.make_question("derivative", [num, den], pos, ctx), ctx

    def diff_operand(self, factors):
        """``dE``, ``d E``, ``∂E``, ``dz_k``, ``d W[p,q]`` -> (name, indices, pos)."""
        if len(factors) == 1 and isinstance(factors[0], S.Partial):
            body = factors[0].body
            if isinstance(body, S.Name):
                return body.name, body.indices, body.pos
            if isinstance(body, S.Num):
                return str(body.value), None, body.pos
            return "(" + self.src(body.pos) + ")", None, body.pos
        if len(factors) == 1 and isinstance(factors[0], S.Name):
            f = factors[0]
            if f.name.startswith("d") and len(f.name) > 1:
                return f.name[1:], f.indices, f.pos
        if (len(factors) == 2 and isinstance(factors[0], S.Name) and factors[0].name == "d"
                and factors[0].indices is None):
            f = factors[1]
            if isinstance(f, S.Name):
                return f.name, f.indices, f.pos
            if isinstance(f, S.Num):
                return str(f.value), None, f.pos
        return None

    def make_question(self, kind: str, parts, pos: S.Pos, ctx: Ctx) -> Question:
        (of, of_ix, of_pos), wrts = parts[0], parts[1:]
        if of not in self.tensors:
            raise self.err(UnknownNameError, f"{of} is not defined; a question asks for the "
                           "derivative of a defined quantity", of_pos)
        of_indices = self.question_indices(of, of_ix, of_pos, ctx)
        out = []
        for name, idx, wpos in wrts:
            self.check_variable(name, wpos)
            out.append(Wrt(name, self.question_indices(name, idx, wpos, ctx)))
        named = [i.name for i in (of_indices or ())]
        named += [i.name for w in out for i in (w.indices or ())]
        repeated = sorted({n for n in named if named.count(n) > 1})
        if repeated:
            raise self.err(IndexMismatchError, f"index {repeated[0]} is used twice in the "
                           "question; give the function and the variable different indices",
                           pos)
        return Question(kind, of, tuple(out), of_indices, self.span(pos),
                        self.statement_source(pos))

    def check_variable(self, name: str, pos: S.Pos) -> None:
        if name in self.tensors:
            return
        if name[:1].isdigit() or name.startswith("("):
            why = "it is not a variable"
        elif known(name) or name in self.functions or name in QUESTION_WORDS:
            why = "it is a function, not a variable"
        elif name in self.dim_symbols:
            why = "it is a dimension, not a variable"
        else:
            why = "it is not a variable of the model (declare it or use it in a definition)"
        raise self.err(DerivativeError, f"cannot differentiate with respect to {name}: {why}",
                       pos)

    def question_indices(self, name: str, names, pos: S.Pos, ctx: Ctx):
        if names is None:
            return None
        t = self.tensors[name]
        if len(names) != len(t.dims):
            raise self.err(IndexMismatchError, f"{name} has rank {len(t.dims)} but is written "
                           f"with {len(names)} ind{'ex' if len(names) == 1 else 'ices'}", pos)
        if len(set(names)) != len(names):
            raise self.err(IndexMismatchError, "the indices of a variable in a question must "
                           "differ", pos)
        for n, v in zip(names, t.dims):
            self.index(n, ctx)
            self.dims.unify(ctx.idx[n], v)
        return tuple(ix(n) for n in names)

    def check_claim(self, q: Question, ctx: Ctx, node) -> tuple[Question, Expr]:
        """Lower the claim of ``check``; its free indices are the question's.  A question
        about whole variables (dE/dW) takes its indices from a matrix-form claim."""
        slots = []                       # (position, tensor dims) of unnamed indices
        if q.of_indices is None and self.tensors[q.of].dims:
            slots.append((-1, self.tensors[q.of].dims))
        for k, w in enumerate(q.wrt):
            if w.indices is None and self.tensors[w.name].dims:
                slots.append((k, self.tensors[w.name].dims))
        named = [i for i in (q.of_indices or ())] + [i for w in q.wrt for i in (w.indices or ())]
        ctx.lhs = frozenset(i.name for i in named)
        v = self.lower_value(node, ctx.protect(ctx.lhs))
        if not slots:
            if v.matrix:
                raise self.err(IndexMismatchError, "the question names its indices, so the "
                               "claim must be in index form too (or ask about the whole "
                               "variable, like dE/dW)", node.pos)
            free = {i.name for i in v.expr.free}
            if free and free != set(ctx.lhs):
                raise self.err(IndexMismatchError, "the claim's free indices "
                               f"{{{', '.join(sorted(free))}}} must be the question's "
                               f"{{{', '.join(i.name for i in named)}}}", node.pos)
            return q, v.expr
        return self.fill_question(q, v, slots, ctx, node)

    def fill_question(self, q: Question, v: Val, slots, ctx: Ctx, node):
        if v.indexed:
            raise self.err(IndexMismatchError, "this question has no indices, so the claim "
                           "must be in matrix form; to write it in index form, name the "
                           "indices in the question (like dE/dW_pq)", node.pos)
        dims = [d for _, ds in slots for d in ds]
        if v.scalar:
            axes = tuple(self.fresh(ctx, d) for d in dims)
        elif v.rank != len(dims):
            raise self.err(ShapeError, f"the claim has rank {v.rank} but the derivative has "
                           f"rank {len(dims)} (the function's axes, then the variable's)",
                           node.pos)
        else:
            axes = v.axes
            for a, d in zip(axes, dims):
                self.unify(ctx.idx[a.name], d, lambda: (
                    "the claim's shape does not match the derivative's"), node.pos)
        given, k = {}, 0
        for pos_, ds in slots:
            given[pos_], k = axes[k:k + len(ds)], k + len(ds)
        wrt = tuple(Wrt(w.name, given.get(j, w.indices)) for j, w in enumerate(q.wrt))
        q = Question(q.kind, q.of, wrt, given.get(-1, q.of_indices), q.span, q.source)
        return q, v.expr

    # -------------------------------------------------------- the end

    def finish(self) -> Model:
        taken = set(self.tensors) | set(self.dim_symbols) | self.functions
        names: dict[str, object] = {}
        for root in sorted({self.dims.find(v) for v in self.dims.parent},
                           key=lambda r: int(r[1:]) if r.startswith("?") else -1):
            if self.dims.pin.get(root) is None:
                name = fresh_dim_name(taken)
                taken.add(name)
                names[root] = name
        self.generated = names
        statements = [self.settle_statement(st, ctx) for st, ctx in self.done]
        shapes = {n: tuple(self.settle_var(v) for v in t.dims) for n, t in self.tensors.items()}
        dims = set(self.dim_symbols)
        for shape in shapes.values():
            dims.update(d for d in shape if isinstance(d, str))
        return Model(tuple(statements), shapes,
                     frozenset(n for n, t in self.tensors.items() if t.symmetric),
                     frozenset(self.functions), frozenset(dims), self.text)

    def settle_var(self, v: str):
        root = self.dims.find(v)
        value = self.dims.pin.get(root)
        return value if value is not None else self.generated[root]

    def settle_statement(self, st, ctx: Ctx | None):
        if ctx is None:
            return st
        dim_of = self.dim_resolver(st, ctx)

        def fix(e: Expr) -> Expr:
            return settle_expr(e, dim_of, self.settle_var)

        def fix_ix(indices):
            return None if indices is None else tuple(Index(i.name, dim_of(i.name))
                                                      for i in indices)
        if isinstance(st, Definition):
            return Definition(st.name, fix_ix(st.indices), fix(st.expr), st.matrix_form,
                              st.span, st.source)
        if isinstance(st, Assume):
            return Assume(fix(st.lhs), fix(st.rhs), st.span, st.source)
        if isinstance(st, Check):
            return Check(self.settle_question(st.question, fix_ix), fix(st.claim), st.span,
                         st.source)
        return self.settle_question(st, fix_ix)

    def settle_question(self, q: Question, fix_ix) -> Question:
        wrt = tuple(Wrt(w.name, fix_ix(w.indices)) for w in q.wrt)
        return Question(q.kind, q.of, wrt, fix_ix(q.of_indices), q.span, q.source)

    def dim_resolver(self, st, ctx: Ctx):
        """Index name -> settled dimension, also for names made by IR helpers
        (they are found from the tensors they index)."""
        exprs = {Definition: lambda s: [s.expr], Assume: lambda s: [s.lhs, s.rhs],
                 Check: lambda s: [s.claim]}.get(type(st), lambda s: [])(st)
        for e in exprs:
            for node in walk(e):
                if isinstance(node, Var) and node.name in self.tensors:
                    for i, v in zip(node.indices, self.tensors[node.name].dims):
                        ctx.idx.setdefault(i.name, v)
        for e in exprs:
            for node in walk(e):
                if isinstance(node, Delta):
                    a, b = node.a.name, node.b.name
                    if a in ctx.idx or b in ctx.idx:
                        v = ctx.idx.get(a) or ctx.idx.get(b)
                        ctx.idx.setdefault(a, v)
                        ctx.idx.setdefault(b, v)

        def dim_of(name: str):
            if name not in ctx.idx:
                ctx.idx[name] = self.dims.new()
                self.generated[self.dims.find(ctx.idx[name])] = fresh_dim_name(
                    set(self.tensors) | set(self.dim_symbols) | set(self.generated.values()))
            return self.settle_var(ctx.idx[name])
        return dim_of

    # -------------------------------------------------------- shape display

    def show_vars(self, dims) -> str:
        shown = [self.dims.show(v) for v in dims]
        return "(" + ", ".join(shown) + ("," if len(shown) == 1 else "") + ")"

    def show_dims(self, dims) -> str:
        return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"


# ---------------------------------------------------------------- helpers

def fresh_dim_name(taken: set[str]) -> str:
    n = 0
    while True:
        name = "N" if n == 0 else f"N{n}"
        if name not in taken:
            return name
        n += 1


def settle_expr(e: Expr, dim_of, settle_var) -> Expr:
    """``e`` with every index carrying its settled dimension, and every
    placeholder ``DimSize`` of a dimension variable replaced by its size."""
    if any(isinstance(n, DimSize) and _placeholder(n.dim) for n in walk(e)):
        e = _settle_sizes(e, settle_var)
    return map_indices(e, lambda i: Index(i.name, dim_of(i.name)))


def _placeholder(dim) -> bool:
    """A dimension variable of the DimTable: free (``?3``) or pinned (``='n'``)."""
    return str(dim).startswith(("?", "="))


def _settle_sizes(e: Expr, settle_var) -> Expr:
    if isinstance(e, DimSize) and _placeholder(e.dim):
        value = settle_var(e.dim)
        return const(value) if isinstance(value, int) else DimSize(value)
    if not e.children:
        return e
    new = tuple(_settle_sizes(c, settle_var) for c in e.children)
    if isinstance(e, Apply):
        return Apply(e.fn, new[0], e.over, e.out, e.order)
    return rebuild(e, new)


def index_names_in(node) -> set[str]:
    """Every index name written in a surface tree (so fresh names avoid them)."""
    names: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        for attr in ("indices", "over", "out"):
            v = getattr(n, attr, None)
            if isinstance(v, tuple):
                names.update(v)
        stack.extend(S.children(n))
    return names


def _looks_like_question(node) -> bool:
    return isinstance(node, (S.Chain, S.Partial)) or (
        isinstance(node, S.Call) and node.name in QUESTION_WORDS)
