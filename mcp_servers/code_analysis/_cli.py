"""``python -m mcp_servers.code_analysis analyze PATH...``: analysis for CI, without a server.

JSON output is JSON Lines: one object per file, with the same fields as the tool's
result (files that could not be read get ``{"file_path": ..., "error": ...}``).
Exit status: 0 when nothing at or above the threshold was found, 1 when something
was, 2 when an input could not be analysed or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from mcp_servers.code_analysis import _quality
from mcp_servers.code_analysis._engine import Analyzer, RawAnalysis, Request
from mcp_servers.code_analysis._findings import Finding
from mcp_servers.code_analysis._language import EXTENSIONS
from mcp_servers.code_analysis._models import AnalysisResult
from mcp_servers.code_analysis._sarif import FileError, to_sarif
from mcp_servers.code_analysis._settings import load_settings
from mcp_servers.code_analysis.errors import InvalidInputError

_SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        "node_modules",
        ".venv",
        "venv",
        ".tox",
        ".mypy_cache",
        ".ruff_cache",
        "build",
        "dist",
        ".eggs",
    }
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mcp_servers.code_analysis analyze",
        description="Analyse source files (directories are walked) and print findings as JSON Lines or SARIF 2.1.0.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    parser.add_argument(
        "--type",
        dest="analysis_type",
        default="general",
        choices=["security", "performance", "architecture", "general"],
    )
    parser.add_argument("--format", dest="output_format", default="json", choices=["json", "sarif"])
    parser.add_argument(
        "--severity-threshold", default="medium", choices=["low", "medium", "high", "critical"]
    )
    parser.add_argument(
        "--max-suggestions", type=int, default=0, help="per file; 0 (default) reports all"
    )
    parser.add_argument("--no-examples", action="store_true", help="leave example fixes out")
    parser.add_argument("--output", type=Path, help="write here instead of standard output")
    return parser


def _walk(paths: Sequence[Path]) -> Iterator[tuple[Path, Path]]:
    """(file, the root it was found under) for every source file, in a stable order."""
    seen: set[Path] = set()
    for root in paths:
        if root.is_file():
            candidates: list[Path] = [root]
            base = root.parent
        else:
            base = root
            candidates = sorted(
                p
                for p in root.rglob("*")
                if p.is_file()
                and p.suffix.lower() in EXTENSIONS
                and not (set(p.relative_to(root).parts[:-1]) & _SKIP_DIRS)
            )
        for path in candidates:
            resolved = path.resolve()
            if resolved not in seen:
                seen.add(resolved)
                yield path, base


def _module_name(path: Path, base: Path) -> str:
    parts = (
        list(path.relative_to(base).with_suffix("").parts)
        if path.is_relative_to(base)
        else [path.stem]
    )
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def run(argv: Sequence[str]) -> tuple[list[AnalysisResult], list[FileError], str]:
    args = _parser().parse_args(argv)
    for path in args.paths:
        if not path.exists():
            raise InvalidInputError(f"{path} does not exist: pass files or directories to analyse.")
    settings = load_settings()
    # Many small files: bandit in-process (a worker's hand-off costs more than it saves).
    analyzer = Analyzer(settings, bandit_worker=False)
    analyzer.warm()
    files = list(_walk(args.paths))
    python = [p for p, _ in files if p.suffix.lower() in (".py", ".pyw", ".pyi")]
    ruff_outputs = analyzer.ruff.run_paths(python)
    errors: list[FileError] = []
    raws: list[tuple[Path, Path, Request, RawAnalysis, float]] = []
    for path, base in files:
        started = time.perf_counter()
        try:
            data = path.read_bytes()
            code = data.decode("utf-8")
        except UnicodeDecodeError:
            errors.append(FileError(str(path), "not UTF-8 text (binary content?): skipped"))
            continue
        except OSError as exc:
            errors.append(FileError(str(path), f"could not be read: {exc.strerror}"))
            continue
        if not code.strip() and path != base and not any(path == p for p in args.paths):
            continue  # an empty file found by walking a directory (__init__.py): nothing to say
        request = Request(
            code=code,
            file_path=str(path),
            analysis_type=args.analysis_type,
            severity_threshold=args.severity_threshold,
            max_suggestions=args.max_suggestions,
            include_examples=not args.no_examples,
        )
        try:
            analyzer.validate(request)
        except InvalidInputError as exc:
            errors.append(FileError(str(path), str(exc)))
            continue
        raw = analyzer.raw(
            code, str(path), "", ruff_outputs.get(str(path.resolve())), _module_name(path, base)
        )
        raws.append((path, base, request, raw, started))
    extra = _import_cycles(raws)
    results = [
        analyzer.report(request, raw, extra.get(str(path), []), started)
        for path, _base, request, raw, started in raws
    ]
    return (
        results,
        errors,
        args.output_format if args.output is None else f"{args.output_format}:{args.output}",
    )


def _import_cycles(
    raws: list[tuple[Path, Path, Request, RawAnalysis, float]],
) -> dict[str, list[Finding]]:
    graph: dict[str, set[str]] = {}
    owner: dict[str, str] = {}
    for path, base, _request, raw, _started in raws:
        if raw.tree is None:
            continue
        module = _module_name(path, base)
        graph[module] = _quality.imported_modules(raw.tree, module)
        owner[module] = str(path)
    found: dict[str, list[Finding]] = {}
    for cycle in _quality.import_cycles(graph):
        for module in cycle:
            found.setdefault(owner[module], []).append(_quality.cycle_finding(module, cycle))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    try:
        results, errors, destination = run(list(argv if argv is not None else sys.argv[1:]))
    except InvalidInputError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    fmt, _, target = destination.partition(":")
    if fmt == "sarif":
        text = json.dumps(to_sarif(results, errors), indent=2) + "\n"
    else:
        lines = [r.model_dump_json() for r in results]
        lines += [json.dumps({"file_path": e.path, "error": e.message}) for e in errors]
        text = "".join(line + "\n" for line in lines)
    if target:
        Path(target).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    for error in errors:
        sys.stderr.write(f"error: {error.path}: {error.message}\n")
    if errors:
        return 2
    return 1 if any(r.total_findings for r in results) else 0
