"""The test functions a Python source defines, found by parsing it (never running it).

Standard library only: besides being imported by the server (``_testids.py``), this file
is run by path, ``python -I -S``, to parse large sources in a memory-limited process of
the server's own that starts in tens of milliseconds.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable

Parse = Callable[[str], ast.Module]
# (names starting with "test" the source binds anywhere, plain test functions it defines)
Names = tuple[list[str], list[str]]


def _is_test_name(name: str) -> bool:
    return name.startswith("test") or name == "runTest"


def _plain_decorators(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> bool:
    """Undecorated, or only ``pytest.mark.*`` / ``mark.*`` marks: pytest still collects it."""
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        text = ast.unparse(target)
        if not (text.startswith(("pytest.mark.", "mark."))):
            return False
    return True


def _final_bindings(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    """The last statement of a block that binds each name (def, class, assignment, import, del)."""
    last: dict[str, ast.stmt] = {}
    for statement in body:
        names: list[str] = []
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names = [statement.name]
        elif isinstance(statement, ast.Import | ast.ImportFrom):
            names = [(a.asname or a.name).split(".")[0] for a in statement.names]
        else:
            names = [
                n.id
                for n in ast.walk(statement)
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store | ast.Del)
            ]
        for name in names:
            last[name] = statement
    return last


def _sets_dunder_test(body: list[ast.stmt]) -> bool:
    return "__test__" in _final_bindings(body)


_PLAIN_BASES = {"object", "TestCase", "unittest.TestCase", "IsolatedAsyncioTestCase"}


def _required(tree: ast.Module) -> set[str]:
    """Test functions pytest certainly collects: top-level ``def test*`` and methods of plain
    top-level ``class Test*`` (no ``__init__``, no foreign base), each still bound to its def."""
    if _sets_dunder_test(tree.body):
        return set()
    found: set[str] = set()
    for name, statement in _final_bindings(tree.body).items():
        if (
            isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef)
            and name.startswith("test")
            and _plain_decorators(statement)
        ):
            found.add(name)
        elif (
            isinstance(statement, ast.ClassDef)
            and name.startswith("Test")
            and _plain_decorators(statement)
            and all(ast.unparse(base) in _PLAIN_BASES for base in statement.bases)
            and not statement.keywords
        ):
            members = _final_bindings(statement.body)
            if {"__init__", "__new__", "__test__"} & set(members):
                continue
            found |= {
                member
                for member, node in members.items()
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and member.startswith("test")
                and _plain_decorators(node)
            }
    return found


def _allowed(tree: ast.Module) -> set[str]:
    """Every name starting with ``test`` (or ``runTest``) the file binds anywhere."""
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names = [node.name]
        elif isinstance(node, ast.alias):
            names = [node.asname or node.name.split(".")[-1], node.name.split(".")[-1]]
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names = [node.id]
        found |= {n for n in names if _is_test_name(n)}
    return found


def _names(source: str, parse: Parse) -> Names | None:
    try:
        tree = parse(source)
        # ast.unparse of a decorator recurses as deep as its attribute chain
        return sorted(_allowed(tree)), sorted(_required(tree))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def parse_names(sources: list[str], parse: Parse = ast.parse) -> list[Names | None]:
    """(allowed, required) of each source, or None where it does not parse.

    ``parse``: ``ast.parse``, or a thread-safe wrapper of it for callers in threads.
    """
    return [_names(source, parse) for source in sources]


def main(argv: list[str]) -> None:
    """``python -I -S _test_names.py MAX_ADDRESS_SPACE`` < JSON list of sources."""
    import json
    import resource

    limit = int(argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sources = json.loads(sys.stdin.buffer.read().decode("utf-8", "surrogatepass"))
    sys.stdout.write(json.dumps(parse_names(sources)))


if __name__ == "__main__":
    main(sys.argv)
