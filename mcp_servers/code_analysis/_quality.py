"""Performance and architecture: radon's metrics, lizard for other languages, our own rules.

Performance rules look for work that grows faster than the input: string building
with ``+=`` in a loop, membership tests against lists inside loops, ``pop(0)`` /
``insert(0, x)`` on lists, queries and HTTP calls issued once per loop iteration,
sorting to take one element, and complexity hot spots (complex functions with
nested loops). Architecture rules report the maintainability index, cyclomatic
complexity, long functions, deep nesting, long parameter lists, god classes and
import cycles.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata

from mcp_servers.code_analysis._findings import AnalyserOutput, AnalyserRun, Category, Finding
from mcp_servers.code_analysis._pyast import ImportMap, ModuleIndex, dotted, end_line, qualify

LONG_FUNCTION_LINES = 60
VERY_LONG_FUNCTION_LINES = 120
DEEP_NESTING = 4
MANY_PARAMETERS = 7
GOD_CLASS_METHODS = 20
GOD_CLASS_ATTRIBUTES = 15
GOD_CLASS_LINES = 400
_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_NESTING = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.With,
    ast.AsyncWith,
    ast.Try,
    ast.TryStar,
    ast.Match,
)
_QUERY_METHODS = frozenset(
    {"execute", "executemany", "fetchone", "raw", "get", "filter", "first", "one", "scalar"}
)
_HTTP_MODULES = ("requests", "httpx", "urllib.request")


@dataclass
class Metrics:
    maintainability_index: float | None = None
    maintainability_rank: str | None = None
    average_complexity: float | None = None
    max_complexity: int | None = None
    functions: int = 0
    classes: int = 0
    lines: int = 0
    code_lines: int = 0


def _finding(  # noqa: PLR0917
    rule: str,
    analyser: str,
    category: Category,
    node_or_line: ast.AST | tuple[int, int],
    severity: str,
    title: str,
    message: str,
    recommendation: str,
    example: str = "",
    confidence: str = "high",
) -> Finding:
    if isinstance(node_or_line, tuple):
        start, last = node_or_line
    else:
        start, last = getattr(node_or_line, "lineno", 1), end_line(node_or_line)
    return Finding(
        rule_id=f"{analyser}/{rule}" if analyser != "quality" else f"quality/{rule}",
        analyser=analyser,
        category=category,
        title=title,
        message=message,
        line_start=start,
        line_end=last,
        severity=severity,
        confidence=confidence,
        recommendation=recommendation,
        example_fix=example,
        evidence="metric" if analyser in ("radon", "lizard") else "pattern",
    )


# ---------------------------------------------------------------- radon


def radon_metrics(index: ModuleIndex, source: str) -> tuple[AnalyserOutput, Metrics]:
    from radon.complexity import cc_rank, cc_visit_ast
    from radon.metrics import h_visit_ast, mi_compute, mi_rank

    started = time.perf_counter()
    tree = index.tree
    blocks = cc_visit_ast(tree)
    functions = []
    for block in blocks:
        methods = getattr(block, "methods", None)
        if methods is not None:
            functions.extend(methods)
        else:
            functions.append(block)
    findings: list[Finding] = []
    for fn in functions:
        complexity = int(fn.complexity)
        if complexity <= 10:
            continue
        rank = cc_rank(complexity)
        severity = "low" if complexity <= 20 else "medium" if complexity <= 30 else "high"
        name = f"{fn.classname}.{fn.name}" if getattr(fn, "classname", None) else fn.name
        findings.append(
            _finding(
                "complexity",
                "radon",
                "architecture",
                (int(fn.lineno), int(fn.endline)),
                severity,
                f"High cyclomatic complexity in {name}() ({complexity}, rank {rank})",
                f"{name}() has {complexity} independent paths; each needs a test and a reader must hold them all.",
                "Split the function: extract the branches into well-named helpers or a dispatch table, and return early for the simple cases.",
            )
        )
    volume = float(h_visit_ast(tree).total.volume)
    total_complexity = sum(int(b.complexity) for b in blocks) or 1
    lines = source.splitlines()
    sloc = sum(1 for line in lines if line.strip())
    comments = sum(1 for line in lines if line.lstrip().startswith("#")) + index.docstring_lines
    lloc = index.statements or 1
    percent = comments / sloc * 100 if sloc else 0.0
    mi = float(mi_compute(volume, total_complexity, lloc, percent))
    rank = str(mi_rank(mi))
    if rank != "A":
        findings.append(
            _finding(
                "maintainability",
                "radon",
                "architecture",
                (1, max(1, len(lines))),
                "medium" if rank == "C" else "low",
                f"Low maintainability index ({mi:.1f}, rank {rank})",
                f"The module's maintainability index is {mi:.1f} (radon: A >= 20, B 10-19, C < 10), driven by its size, Halstead volume and complexity.",
                "Move unrelated responsibilities into separate modules and simplify the most complex functions first.",
            )
        )
    complexities = [int(fn.complexity) for fn in functions]
    metrics = Metrics(
        maintainability_index=round(mi, 2),
        maintainability_rank=rank,
        average_complexity=round(sum(complexities) / len(complexities), 2)
        if complexities
        else None,
        max_complexity=max(complexities) if complexities else None,
        functions=len(functions),
        classes=index.classes,
        lines=len(lines),
        code_lines=sloc,
    )
    version = metadata.version("radon")
    run = AnalyserRun("radon", "ok", "", len(findings), _ms(started), version, parsed=True)
    return AnalyserOutput(run, findings), metrics


# ---------------------------------------------------------------- lizard (other languages)


def lizard_metrics(source: str, filename: str) -> tuple[AnalyserOutput, Metrics]:
    import lizard

    started = time.perf_counter()
    version = metadata.version("lizard")
    try:
        info = lizard.analyze_file.analyze_source_code(filename, source)
    except Exception as exc:  # lizard's language readers raise anything on odd input
        return AnalyserOutput(
            AnalyserRun(
                "lizard",
                "failed",
                f"lizard could not read the code: {exc}",
                version=version,
                parsed=False,
            )
        ), Metrics()
    findings: list[Finding] = []
    for fn in info.function_list:
        name = fn.name
        span = (int(fn.start_line), int(fn.end_line))
        if fn.cyclomatic_complexity > 10:
            cc = int(fn.cyclomatic_complexity)
            findings.append(
                _finding(
                    "complexity",
                    "lizard",
                    "architecture",
                    span,
                    "low" if cc <= 20 else "medium" if cc <= 30 else "high",
                    f"High cyclomatic complexity in {name} ({cc})",
                    f"{name} has {cc} independent paths.",
                    "Split the function into smaller ones and return early for the simple cases.",
                )
            )
        if fn.nloc > LONG_FUNCTION_LINES:
            findings.append(
                _finding(
                    "long-function",
                    "lizard",
                    "architecture",
                    span,
                    "medium" if fn.nloc > VERY_LONG_FUNCTION_LINES else "low",
                    f"Long function {name} ({fn.nloc} lines of code)",
                    f"{name} has {fn.nloc} lines of code.",
                    "Extract cohesive steps into functions with descriptive names.",
                )
            )
        if fn.parameter_count > MANY_PARAMETERS:
            findings.append(
                _finding(
                    "many-parameters",
                    "lizard",
                    "architecture",
                    span,
                    "low",
                    f"{name} takes {fn.parameter_count} parameters",
                    f"{name} takes {fn.parameter_count} parameters.",
                    "Group related parameters into a structure or object.",
                )
            )
    ccs = [int(f.cyclomatic_complexity) for f in info.function_list]
    lines = source.splitlines()
    metrics = Metrics(
        average_complexity=round(sum(ccs) / len(ccs), 2) if ccs else None,
        max_complexity=max(ccs) if ccs else None,
        functions=len(ccs),
        lines=len(lines),
        code_lines=int(info.nloc),
    )
    parsed = bool(info.function_list) or not source.strip()
    run = AnalyserRun("lizard", "ok", "", len(findings), _ms(started), version, parsed=parsed)
    return AnalyserOutput(run, findings), metrics


# ---------------------------------------------------------------- our own rules


class _QualityVisitor(ast.NodeVisitor):
    def visit_Constant(self, node: ast.Constant) -> None:
        """Leaves: skip NodeVisitor's slow fallback for the deprecated visit_Str & co."""

    def __init__(self, imports: ImportMap, module_name: str) -> None:
        self.imports = imports
        self.module_name = module_name
        self.findings: list[Finding] = []
        self.loops: list[ast.AST] = []
        self.string_vars: list[set[str]] = [set()]
        self.list_vars: list[set[str]] = [set()]
        self.async_depth = 0

    def add(self, *args: object, **kwargs: object) -> None:
        self.findings.append(_finding(*args, **kwargs))  # type: ignore[arg-type]

    # -- functions and classes

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        length = end_line(node) - node.lineno + 1
        name = node.name
        if length > LONG_FUNCTION_LINES:
            self.add(
                "long-function",
                "quality",
                "architecture",
                node,
                "medium" if length > VERY_LONG_FUNCTION_LINES else "low",
                f"Long function {name}() ({length} lines)",
                f"{name}() spans {length} lines; long functions mix several responsibilities and are hard to test.",
                "Extract cohesive steps into helper functions with descriptive names.",
            )
        depth, deepest = _max_nesting(node.body)
        if depth >= DEEP_NESTING:
            self.add(
                "deep-nesting",
                "quality",
                "architecture",
                deepest or node,
                "medium" if depth >= DEEP_NESTING + 2 else "low",
                f"Deeply nested code in {name}() ({depth} levels)",
                f"{name}() nests {depth} blocks deep.",
                "Return early for exceptional cases (guard clauses) and move inner blocks into functions.",
                "if not ok:\n    return\n# continue at the outer level",
            )
        params = len(node.args.posonlyargs) + len(node.args.args) + len(node.args.kwonlyargs)
        if params and node.args.args and node.args.args[0].arg in ("self", "cls"):
            params -= 1
        if params > MANY_PARAMETERS:
            self.add(
                "many-parameters",
                "quality",
                "architecture",
                (node.lineno, node.lineno),
                "low",
                f"{name}() takes {params} parameters",
                f"{name}() takes {params} parameters.",
                "Group related parameters into a dataclass or pass an object that owns them.",
            )
        loop_depth = _loop_depth(node.body)
        if loop_depth >= 3:
            self.add(
                "loop-nest",
                "quality",
                "performance",
                node,
                "medium",
                f"Hot spot: {loop_depth} nested loops in {name}()",
                f"{name}() nests {loop_depth} loops, so its cost grows with the product of the collection sizes.",
                "Index the inner collection in a dict or set before the loop, or precompute the inner result once.",
            )
        self.string_vars.append(set())
        self.list_vars.append(set())
        if isinstance(node, ast.AsyncFunctionDef):
            self.async_depth += 1
        saved = self.loops
        self.loops = []
        self.generic_visit(node)
        self.loops = saved
        if isinstance(node, ast.AsyncFunctionDef):
            self.async_depth -= 1
        self.string_vars.pop()
        self.list_vars.pop()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        methods = [n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        attributes = {
            t.attr
            for m in methods
            for n in ast.walk(m)
            if isinstance(n, ast.Assign | ast.AnnAssign)
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
            if isinstance(t, ast.Attribute)
            and isinstance(t.value, ast.Name)
            and t.value.id == "self"
        }
        length = end_line(node) - node.lineno + 1
        reasons = []
        if len(methods) >= GOD_CLASS_METHODS:
            reasons.append(f"{len(methods)} methods")
        if len(attributes) >= GOD_CLASS_ATTRIBUTES:
            reasons.append(f"{len(attributes)} instance attributes")
        if length >= GOD_CLASS_LINES:
            reasons.append(f"{length} lines")
        if reasons:
            self.add(
                "god-class",
                "quality",
                "architecture",
                (node.lineno, end_line(node)),
                "medium",
                f"God class {node.name} ({', '.join(reasons)})",
                f"{node.name} has {', '.join(reasons)}: it likely owns several responsibilities.",
                "Split it along its responsibilities (for example persistence, validation, presentation) into collaborating classes.",
            )
        self.generic_visit(node)

    # -- loops

    def _loop(self, node: ast.For | ast.AsyncFor | ast.While) -> None:
        if isinstance(node, ast.For | ast.AsyncFor):
            inner = [n for n in node.body if isinstance(n, ast.For | ast.AsyncFor)]
            outer_iter = ast.dump(node.iter)
            for loop in inner:
                if ast.dump(loop.iter) == outer_iter:
                    self.add(
                        "quadratic-pairs",
                        "quality",
                        "performance",
                        loop,
                        "low",
                        "Quadratic loop over the same collection",
                        "The inner loop walks the same collection as the outer one: n² iterations.",
                        "If you look for matches, index the collection once in a dict or set keyed by what you compare.",
                    )
            if (
                isinstance(node.iter, ast.Call)
                and isinstance(node.iter.func, ast.Attribute)
                and node.iter.func.attr == "readlines"
            ):
                self.add(
                    "readlines-loop",
                    "quality",
                    "performance",
                    node.iter,
                    "low",
                    "readlines() loads the whole file before looping",
                    "Iterating over f.readlines() reads every line into memory first.",
                    "Iterate over the file object itself: for line in f:",
                )
        self.loops.append(node)
        self.generic_visit(node)
        self.loops.pop()

    visit_For = _loop
    visit_AsyncFor = _loop
    visit_While = _loop

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                value = node.value
                if (isinstance(value, ast.Constant) and isinstance(value.value, str)) or isinstance(
                    value, ast.JoinedStr
                ):
                    self.string_vars[-1].add(target.id)
                else:
                    self.string_vars[-1].discard(target.id)
                if isinstance(value, ast.List | ast.ListComp) or (
                    isinstance(value, ast.Call)
                    and isinstance(value.func, ast.Name)
                    and value.func.id == "list"
                ):
                    self.list_vars[-1].add(target.id)
                else:
                    self.list_vars[-1].discard(target.id)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if (
            self.loops
            and isinstance(node.op, ast.Add)
            and isinstance(node.target, ast.Name)
            and node.target.id in self.string_vars[-1]
        ):
            self.add(
                "string-concat-loop",
                "quality",
                "performance",
                node,
                "medium",
                f"Quadratic string building: '{node.target.id} +=' in a loop",
                f"Each '{node.target.id} += ...' copies the whole string built so far, so the loop costs O(n²) in the output size.",
                "Append the pieces to a list and join once after the loop.",
                f"parts = []\nfor item in items:\n    parts.append(piece(item))\n{node.target.id} = ''.join(parts)",
            )
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        if self.loops and len(node.ops) == 1 and isinstance(node.ops[0], ast.In | ast.NotIn):
            right = node.comparators[0]
            if isinstance(right, ast.Name) and right.id in self.list_vars[-1]:
                self.add(
                    "list-membership-loop",
                    "quality",
                    "performance",
                    node,
                    "medium",
                    f"Linear membership test on list '{right.id}' inside a loop",
                    f"'x in {right.id}' scans the list on every iteration: O(n·m).",
                    f"Build a set once before the loop ({right.id}_set = set({right.id})) and test membership against it.",
                )
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        method = func.attr if isinstance(func, ast.Attribute) else ""
        name = qualify(func, self.imports) or ""
        if self.loops:
            if (
                method == "pop"
                and len(node.args) == 1
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value == 0
            ):
                self.add(
                    "list-pop-front",
                    "quality",
                    "performance",
                    node,
                    "medium",
                    "list.pop(0) in a loop",
                    "pop(0) shifts every remaining element: the loop is O(n²).",
                    "Use collections.deque and popleft(), or iterate without removing.",
                    "from collections import deque\nqueue = deque(items)\nwhile queue:\n    item = queue.popleft()",
                )
            if (
                method == "insert"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value == 0
            ):
                self.add(
                    "list-insert-front",
                    "quality",
                    "performance",
                    node,
                    "medium",
                    "list.insert(0, x) in a loop",
                    "insert(0, x) shifts every element: the loop is O(n²).",
                    "Append and reverse once at the end, or use collections.deque.appendleft().",
                )
            if method in _QUERY_METHODS and _looks_like_query(func):
                self.add(
                    "query-in-loop",
                    "quality",
                    "performance",
                    node,
                    "medium",
                    "Database query inside a loop (N+1 queries)",
                    "A query runs once per iteration; latency adds up with the number of rows.",
                    "Fetch everything in one query before the loop (WHERE id IN (...), select_related/prefetch_related, joinedload).",
                )
            if name.startswith(_HTTP_MODULES) and name.split(".")[-1] in (
                "get",
                "post",
                "put",
                "delete",
                "urlopen",
                "request",
            ):
                self.add(
                    "http-in-loop",
                    "quality",
                    "performance",
                    node,
                    "low",
                    "HTTP request inside a loop",
                    f"{name}() waits for a round trip on every iteration.",
                    "Batch the requests, reuse one Session, or run them concurrently with an async client.",
                )
            if name == "copy.deepcopy":
                self.add(
                    "deepcopy-loop",
                    "quality",
                    "performance",
                    node,
                    "low",
                    "copy.deepcopy() inside a loop",
                    "deepcopy walks the whole object graph on every iteration.",
                    "Copy once outside the loop, or copy only the fields you change.",
                )
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        value = node.value
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "sorted"
            and isinstance(node.slice, ast.Constant | ast.UnaryOp)
        ):
            self.add(
                "sort-for-extreme",
                "quality",
                "performance",
                node,
                "low",
                "Sorting a collection to take one element",
                "sorted(...)[0] or [-1] sorts n items (O(n log n)) to read one.",
                "Use min(...) or max(...) (O(n)), with key= if needed.",
            )
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if self.module_name and alias.name == self.module_name:
                self._self_import(node)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if self.module_name and node.module == self.module_name and node.level == 0:
            self._self_import(node)
        self.generic_visit(node)

    def _self_import(self, node: ast.AST) -> None:
        self.add(
            "import-cycle",
            "quality",
            "architecture",
            node,
            "medium",
            "Module imports itself",
            f"{self.module_name} imports itself: an import cycle of length one that runs the module twice.",
            "Remove the import and refer to the names directly.",
        )


def _looks_like_query(func: ast.expr) -> bool:
    if not isinstance(func, ast.Attribute):
        return False
    chain = dotted(func) or ""
    if func.attr in ("execute", "executemany", "raw", "fetchone"):
        return True
    return (
        ".objects." in chain
        or ".query." in chain
        or chain.startswith(("session.query", "db.session"))
    )


def _max_nesting(body: Iterable[ast.stmt], depth: int = 0) -> tuple[int, ast.AST | None]:
    best, where = depth, None
    for stmt in body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        if isinstance(stmt, _NESTING):
            children: list[ast.stmt] = []
            for field_name in ("body", "orelse", "finalbody"):
                children.extend(getattr(stmt, field_name, []) or [])
            for handler in getattr(stmt, "handlers", []) or []:
                children.extend(handler.body)
            for case in getattr(stmt, "cases", []) or []:
                children.extend(case.body)
            inner, inner_where = _max_nesting(children, depth + 1)
            if inner > best:
                best, where = inner, inner_where or stmt
    return best, where


def _loop_depth(body: Iterable[ast.stmt]) -> int:
    best = 0
    for stmt in body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        own = 1 if isinstance(stmt, _LOOPS) else 0
        children: list[ast.stmt] = []
        for field_name in ("body", "orelse", "finalbody"):
            children.extend(getattr(stmt, field_name, []) or [])
        for handler in getattr(stmt, "handlers", []) or []:
            children.extend(handler.body)
        best = max(best, own + _loop_depth(children))
    return best


def quality_rules(tree: ast.Module, imports: ImportMap, module_name: str = "") -> list[Finding]:
    visitor = _QualityVisitor(imports, module_name)
    visitor.visit(tree)
    return visitor.findings


def imported_modules(tree: ast.Module, module_name: str) -> set[str]:
    """Absolute names of the modules this one imports (relative imports resolved)."""
    package = module_name.rsplit(".", 1)[0] if "." in module_name else ""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                base_parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join(base_parts)
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if module:
                found.add(module)
                found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components (size > 1) of the import graph among the given modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]
    edges = {m: {t for t in targets if t in graph and t != m} for m, targets in graph.items()}

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            strong(module)
    return cycles


def cycle_finding(module: str, cycle: list[str]) -> Finding:
    return _finding(
        "import-cycle",
        "quality",
        "architecture",
        (1, 1),
        "medium",
        "Import cycle between modules",
        f"{module} is part of an import cycle: {' -> '.join([*cycle, cycle[0]])}.",
        "Break the cycle: move the shared names into a module both can import, or invert one dependency.",
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
