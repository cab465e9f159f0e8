"""Which language a snippet is in: from its path, else from its content."""

from __future__ import annotations

import re

EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyw": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".cs": "csharp",
    ".go": "go",
    ".rb": "ruby",
    ".php": "php",
    ".rs": "rust",
    ".swift": "swift",
    ".kt": "kotlin",
    ".kts": "kotlin",
    ".scala": "scala",
    ".lua": "lua",
    ".m": "objective-c",
    ".erl": "erlang",
    ".f90": "fortran",
    ".gd": "gdscript",
    ".sol": "solidity",
    ".zig": "zig",
    ".pl": "perl",
}
ALIASES = {
    "py": "python",
    "python3": "python",
    "js": "javascript",
    "ts": "typescript",
    "c++": "cpp",
    "c#": "csharp",
    "golang": "go",
}
# Languages lizard can measure (complexity, length, parameters).
LIZARD_LANGUAGES = frozenset(
    {
        "javascript",
        "typescript",
        "java",
        "c",
        "cpp",
        "csharp",
        "go",
        "ruby",
        "php",
        "rust",
        "swift",
        "kotlin",
        "scala",
        "lua",
        "objective-c",
        "erlang",
        "fortran",
        "gdscript",
        "solidity",
        "zig",
        "perl",
    }
)
LIZARD_SUFFIX = {lang: ext for ext, lang in EXTENSIONS.items() if lang in LIZARD_LANGUAGES}

_CONTENT_HINTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("python", re.compile(r"^#!.*\bpython", re.M)),
    (
        "python",
        re.compile(
            r"^\s*(def \w+\(.*\)\s*(->[^:]+)?:|class \w+(\(.*\))?:|from [\w.]+ import |import [\w.]+(\s+as \w+)?\s*$)",
            re.M,
        ),
    ),
    ("go", re.compile(r"^package \w+\s*$.*^func ", re.M | re.S)),
    ("java", re.compile(r"\b(public|private|protected) (static )?(class|interface|void) ")),
    ("rust", re.compile(r"^\s*(pub )?fn \w+.*\{|^use \w+::", re.M)),
    ("php", re.compile(r"<\?php")),
    ("ruby", re.compile(r"^\s*def \w+[^:(]*$.*^\s*end\s*$", re.M | re.S)),
    ("cpp", re.compile(r"#include\s*<(iostream|vector|string|memory)>|std::")),
    ("c", re.compile(r"#include\s*[<\"]\w+\.h[>\"]")),
    ("typescript", re.compile(r"^\s*(interface \w+ \{|(export )?(const|let) \w+: \w+)", re.M)),
    (
        "javascript",
        re.compile(
            r"\bfunction\s*\w*\s*\(|=>\s*\{|\bconst \w+ = require\(|^\s*(import|export) .* from ['\"]",
            re.M,
        ),
    ),
    ("csharp", re.compile(r"^using System;|namespace \w+\s*\{", re.M)),
)


def detect(code: str, file_path: str, declared: str) -> tuple[str, str]:
    """(language, how we know: argument | extension | content)."""
    if declared.strip():
        name = declared.strip().lower()
        return ALIASES.get(name, name), "argument"
    lowered = file_path.lower()
    for ext, lang in EXTENSIONS.items():
        if lowered.endswith(ext):
            return lang, "extension"
    for lang, pattern in _CONTENT_HINTS:
        if pattern.search(code):
            return lang, "content"
    return "python", "content"
