"""``ast.parse`` that is safe to call from several threads at once.

CPython 3.11 keeps the parser's recursion-depth bookkeeping per interpreter, not per
thread: two threads parsing at the same moment can fail with ``SystemError: AST
constructor recursion depth mismatch`` (seen when a garbage collection during one thread's
parse let another thread parse). Servers that parse in worker threads call this.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    with _LOCK:
        return ast.parse(source, filename=filename)
