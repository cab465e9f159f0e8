"""Small helpers over Python's ``ast``: import aliases, dotted names, constants."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field


@dataclass
class ImportMap:
    """Local name -> fully qualified name, from the module's imports (all scopes)."""

    aliases: dict[str, str] = field(default_factory=dict)
    modules: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, tree: ast.AST) -> ImportMap:
        return cls.from_nodes(
            n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)
        )

    @classmethod
    def from_nodes(cls, nodes: Iterable[ast.Import | ast.ImportFrom]) -> ImportMap:
        imports = cls()
        for node in nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    imports.modules.add(alias.name)
                    if alias.asname:
                        imports.aliases[alias.asname] = alias.name
                    else:
                        head = alias.name.split(".")[0]
                        imports.aliases.setdefault(head, head)
            elif isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                imports.modules.add(module)
                for alias in node.names:
                    if alias.name == "*":
                        continue
                    local = alias.asname or alias.name
                    imports.aliases[local] = f"{module}.{alias.name}" if module else alias.name
        return imports

    def uses(self, prefix: str) -> bool:
        return any(m == prefix or m.startswith(prefix + ".") for m in self.modules)


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of Names/Attributes, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def qualify(node: ast.AST, imports: ImportMap) -> str | None:
    """The dotted name with its head resolved through the imports (``ET.parse`` -> ``xml...``)."""
    name = dotted(node)
    if name is None:
        return None
    head, _, rest = name.partition(".")
    resolved = imports.aliases.get(head)
    if resolved is None:
        return name
    return f"{resolved}.{rest}" if rest else resolved


def call_qualname(call: ast.Call, imports: ImportMap) -> str | None:
    return qualify(call.func, imports)


def method_name(call: ast.Call) -> str | None:
    return call.func.attr if isinstance(call.func, ast.Attribute) else None


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def argument(call: ast.Call, index: int, name: str | None = None) -> ast.expr | None:
    """Positional argument ``index`` or keyword ``name``."""
    if name is not None:
        value = keyword(call, name)
        if value is not None:
            return value
    if 0 <= index < len(call.args) and not isinstance(call.args[index], ast.Starred):
        return call.args[index]
    return None


def is_true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def is_false(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def literal_str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def is_literal(node: ast.AST) -> bool:
    """A literal built only from constants (strings, numbers, containers of them)."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return all(is_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is None or is_literal(k) for k in node.keys) and all(
            is_literal(v) for v in node.values
        )
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id in {"frozenset", "set", "tuple", "list", "dict"} and all(
            is_literal(a) for a in node.args
        )
    return False


def end_line(node: ast.AST) -> int:
    value = getattr(node, "end_lineno", None) or getattr(node, "lineno", None)
    return int(value) if value else 1


def walk_functions(
    tree: ast.AST,
) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.ClassDef | None]]:
    """Every function (nested ones included) with its enclosing class, if a method."""

    def visit(
        node: ast.AST, cls: ast.ClassDef | None
    ) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.ClassDef | None]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield child, cls
                yield from visit(child, None)
            elif isinstance(child, ast.ClassDef):
                yield from visit(child, child)
            else:
                yield from visit(child, cls)

    yield from visit(tree, None)


def terminates(body: list[ast.stmt], is_noreturn: Callable[[ast.Call], bool]) -> bool:
    """Whether a block always leaves (return/raise/continue/break or a no-return call)."""
    if not body:
        return False
    last = body[-1]
    if isinstance(last, ast.Return | ast.Raise | ast.Continue | ast.Break):
        return True
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        return is_noreturn(last.value)
    if isinstance(last, ast.If):
        return terminates(last.body, is_noreturn) and terminates(last.orelse, is_noreturn)
    return False


FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass
class ModuleIndex:
    """What several analyses need from the whole tree, gathered in one traversal."""

    tree: ast.Module
    imports: ImportMap
    functions: list[tuple[FunctionNode, ast.ClassDef | None]]
    global_names: set[str]
    statements: int
    classes: int
    docstring_lines: int

    @classmethod
    def build(cls, tree: ast.Module) -> ModuleIndex:
        """Walk statements only: everything collected here is a statement, and skipping
        the expressions (most of the nodes) makes this several times cheaper."""
        import_nodes: list[ast.Import | ast.ImportFrom] = []
        functions: list[tuple[FunctionNode, ast.ClassDef | None]] = []
        global_names: set[str] = set()
        counts = [0, 0, 0]  # statements, classes, docstring lines

        def docstring(body: list[ast.stmt]) -> None:
            first = body[0] if body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                counts[2] += end_line(first) - first.lineno + 1

        def block(body: list[ast.stmt], owner: ast.ClassDef | None) -> None:
            for stmt in body:
                counts[0] += 1
                if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                    functions.append((stmt, owner))
                    docstring(stmt.body)
                    block(stmt.body, None)
                    continue
                if isinstance(stmt, ast.ClassDef):
                    counts[1] += 1
                    docstring(stmt.body)
                    block(stmt.body, stmt)
                    continue
                if isinstance(stmt, ast.Import | ast.ImportFrom):
                    import_nodes.append(stmt)
                elif isinstance(stmt, ast.Global):
                    global_names.update(stmt.names)
                for name in ("body", "orelse", "finalbody"):
                    inner = getattr(stmt, name, None)
                    if inner:
                        block(inner, owner)
                for handler in getattr(stmt, "handlers", ()) or ():
                    block(handler.body, owner)
                for case in getattr(stmt, "cases", ()) or ():
                    block(case.body, owner)

        docstring(tree.body)
        block(tree.body, None)
        functions.sort(key=lambda pair: (pair[0].lineno, pair[0].col_offset))
        return cls(
            tree,
            ImportMap.from_nodes(import_nodes),
            functions,
            global_names,
            counts[0],
            counts[1],
            counts[2],
        )
