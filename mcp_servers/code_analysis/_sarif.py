"""SARIF 2.1.0 output for the command-line entry (code scanning in CI)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from typing import Any
from urllib.parse import quote

from mcp_servers.code_analysis._models import AnalysisResult, Suggestion

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
# GitHub code scanning reads this property (0.1-10.0) to rank security results.
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "2.0"}


@dataclass(frozen=True)
class FileError:
    path: str
    message: str


def _version() -> str:
    try:
        return metadata.version("promptcraft")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _uri(path: str) -> str:
    return quote(path.replace("\\", "/"), safe="/:._-~")


def _region(start: int, end: int) -> dict[str, int]:
    return {"startLine": max(1, start), "endLine": max(1, start, end)}


def _rule(suggestion: Suggestion) -> dict[str, Any]:
    tags: list[str] = [suggestion.type]
    if suggestion.cwe:
        tags.append(f"external/cwe/{suggestion.cwe.lower()}")
    properties: dict[str, Any] = {
        "tags": tags,
        "precision": {"high": "high", "medium": "medium", "low": "low"}[suggestion.confidence],
    }
    if suggestion.type == "security":
        properties["security-severity"] = _SECURITY_SEVERITY[suggestion.severity]
    rule: dict[str, Any] = {
        "id": suggestion.rule_id,
        "name": suggestion.rule_id.replace("/", "-"),
        "shortDescription": {"text": suggestion.title},
        "fullDescription": {"text": suggestion.recommendation},
        "help": {"text": suggestion.recommendation},
        "defaultConfiguration": {"level": _LEVEL[suggestion.severity]},
        "properties": properties,
    }
    if suggestion.references:
        rule["helpUri"] = (
            suggestion.references[-1]
            if len(suggestion.references) > 2
            else suggestion.references[0]
        )
    return rule


def _result(
    suggestion: Suggestion, rule_index: int, uri: str, artifact: int, steps: list[tuple[int, str]]
) -> dict[str, Any]:
    location = {
        "physicalLocation": {
            "artifactLocation": {"uri": uri, "index": artifact},
            "region": _region(suggestion.line_start, suggestion.line_end),
        }
    }
    result: dict[str, Any] = {
        "ruleId": suggestion.rule_id,
        "ruleIndex": rule_index,
        "level": _LEVEL[suggestion.severity],
        "message": {"text": f"{suggestion.title}: {suggestion.description}"},
        "locations": [location],
        "partialFingerprints": {"promptcraftFindingId/v1": suggestion.id},
        "properties": {
            "severity": suggestion.severity,
            "confidence": suggestion.confidence,
            "category": suggestion.type,
            "analysers": suggestion.analysers,
            **({"cwe": suggestion.cwe} if suggestion.cwe else {}),
        },
    }
    if steps:
        result["codeFlows"] = [
            {
                "threadFlows": [
                    {
                        "locations": [
                            {
                                "location": {
                                    "physicalLocation": {
                                        "artifactLocation": {"uri": uri, "index": artifact},
                                        "region": _region(line, line),
                                    },
                                    "message": {"text": note},
                                }
                            }
                            for line, note in steps
                        ]
                    }
                ]
            }
        ]
    return result


def to_sarif(
    results: list[AnalysisResult], errors: list[FileError] | None = None
) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    rule_index: dict[str, int] = {}
    artifacts: list[dict[str, Any]] = []
    sarif_results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    for result in results:
        uri = _uri(result.file_path or "input")
        artifact = len(artifacts)
        artifacts.append(
            {
                "location": {"uri": uri},
                **({"sourceLanguage": result.language} if result.language else {}),
            }
        )
        paths = {
            v.id: [(s.line, s.note) for s in v.taint_path]
            for v in result.security_analysis.vulnerabilities
        }
        for suggestion in result.suggestions:
            if suggestion.rule_id not in rule_index:
                rule_index[suggestion.rule_id] = len(rules)
                rules.append(_rule(suggestion))
            sarif_results.append(
                _result(
                    suggestion,
                    rule_index[suggestion.rule_id],
                    uri,
                    artifact,
                    paths.get(suggestion.id, []),
                )
            )
        for status in result.coverage.analysers:
            if status.status == "failed":
                notifications.append(
                    {
                        "level": "warning",
                        "message": {
                            "text": f"{status.name} did not analyse {result.file_path}: {status.detail}"
                        },
                        "locations": [
                            {
                                "physicalLocation": {
                                    "artifactLocation": {"uri": uri, "index": artifact}
                                }
                            }
                        ],
                        "descriptor": {"id": f"analyser-failed/{status.name}"},
                    }
                )
    for error in errors or []:
        notifications.append(
            {
                "level": "error",
                "message": {"text": f"{error.path}: {error.message}"},
                "locations": [
                    {"physicalLocation": {"artifactLocation": {"uri": _uri(error.path)}}}
                ],
                "descriptor": {"id": "input-rejected"},
            }
        )
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "PromptCraft code analysis",
                        "informationUri": "https://github.com/promptcraft/promptcraft",
                        "version": _version(),
                        "rules": rules,
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": not errors,
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "artifacts": artifacts,
                "results": sarif_results,
                "columnKind": "unicodeCodePoints",
            }
        ],
    }
