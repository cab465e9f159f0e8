from __future__ import annotations

from typing import Any

import pytest

from mcp_servers.human_in_loop import HumanInLoopSettings
from mcp_servers.human_in_loop._risk import assess

SETTINGS = HumanInLoopSettings(_env_file=None)  # type: ignore[call-arg]
# Auto-approval is off by default; these tests switch it on as an operator would.
ON = HumanInLoopSettings(_env_file=None, auto_approve_max_threshold=30)  # type: ignore[call-arg]


def ctx(level: str, report: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"impact_assessment": "x", "risk_level": level, "security_report": report}


def test_score_is_level_plus_type_plus_findings_clamped() -> None:
    assert assess(SETTINGS, "external_api", ctx("low"), None).score == 15
    report = {"issues": [{"severity": "MEDIUM"}, {"issue_severity": "LOW"}, {"x": 1}]}
    assert (
        assess(SETTINGS, "code_deployment", ctx("medium", report), None).score
        == 40 + 10 + 5 + 1 + 5
    )
    many = {"results": [{"level": "high"}] * 20}
    assert assess(SETTINGS, "data_access", ctx("high", many), None).score == 100


def test_low_risk_at_or_below_the_threshold_is_approved_automatically() -> None:
    risk = assess(ON, "external_api", ctx("low"), 15)
    assert risk.auto_approve and risk.score == 15
    assert not assess(ON, "external_api", ctx("low"), 14).auto_approve
    assert not assess(ON, "external_api", ctx("low"), None).auto_approve


def test_a_high_threshold_is_capped_by_the_server() -> None:
    risk = assess(ON, "code_deployment", ctx("medium"), 100)
    assert risk.effective_threshold == 30 and not risk.auto_approve


def test_critical_risk_security_overrides_and_severe_findings_always_need_a_person() -> None:
    generous = HumanInLoopSettings(
        _env_file=None,  # type: ignore[call-arg]
        auto_approve_max_threshold=100,
    )
    assert not assess(generous, "external_api", ctx("critical"), 100).auto_approve
    assert not assess(generous, "security_override", ctx("low"), 100).auto_approve
    severe = ctx("low", {"findings": [{"severity": "critical"}]})
    assert "critical/high" in assess(generous, "external_api", severe, 100).reason
    assert assess(generous, "external_api", ctx("high"), 100).auto_approve


def test_auto_approval_can_be_switched_off() -> None:
    off = HumanInLoopSettings(_env_file=None, auto_approve_max_threshold=0)  # type: ignore[call-arg]
    assert not assess(off, "external_api", ctx("low"), 100).auto_approve


def test_auto_approval_is_off_unless_the_operator_turns_it_on() -> None:
    risk = assess(SETTINGS, "external_api", ctx("low"), 100)
    assert risk.score == 15 and not risk.auto_approve
    assert "HITL_AUTO_APPROVE_MAX_THRESHOLD" in risk.reason


def test_only_allowed_types_with_one_approver_are_ever_approved_automatically() -> None:
    generous = HumanInLoopSettings(_env_file=None, auto_approve_max_threshold=100)  # type: ignore[call-arg]
    deploy = assess(generous, "code_deployment", ctx("low"), 100)
    assert not deploy.auto_approve and "HITL_AUTO_APPROVE_TYPES" in deploy.reason
    allowed = HumanInLoopSettings(
        _env_file=None,  # type: ignore[call-arg]
        auto_approve_max_threshold=100,
        auto_approve_types="code_deployment",  # type: ignore[arg-type]  # as from the environment
    )
    assert assess(allowed, "code_deployment", ctx("low"), 100).auto_approve
    two = assess(allowed, "code_deployment", ctx("low"), 100, required_approvers=2)
    assert not two.auto_approve and "2 approvers" in two.reason
    assert not assess(allowed, "code_deployment", ctx("low"), 10).auto_approve  # only lowers


def test_generated_code_without_a_readable_security_report_is_never_approved_automatically() -> (
    None
):
    generous = HumanInLoopSettings(_env_file=None, auto_approve_max_threshold=100)  # type: ignore[call-arg]

    def with_code(report: object) -> dict[str, Any]:
        return {**ctx("low"), "generated_code": "DROP DATABASE prod;", "security_report": report}

    missing = assess(generous, "data_access", with_code(None), 100)
    assert not missing.auto_approve and "readable security report" in missing.reason
    assert missing.score == 10 + 10 + 10 and missing.severe_findings == 1
    assert not assess(generous, "data_access", with_code({"summary": "all good"}), 100).auto_approve
    clean_sarif = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": []}]}
    assert assess(generous, "data_access", with_code(clean_sarif), 100).auto_approve
    bandit_failed = {"results": [], "errors": [{"filename": "x.py", "reason": "syntax error"}]}
    assert "incomplete" in assess(generous, "data_access", with_code(bandit_failed), 100).reason


@pytest.mark.parametrize(
    ("report", "points"),
    [
        ({"runs": [{"results": [{"ruleId": "r", "level": "error"}]}]}, 10),
        (
            {"runs": [{"results": [{"ruleId": "r", "properties": {"security-severity": "9.1"}}]}]},
            10,
        ),
        (
            {
                "runs": [
                    {
                        "tool": {
                            "driver": {
                                "rules": [{"id": "r", "properties": {"security-severity": "8.0"}}]
                            }
                        },
                        "results": [{"ruleId": "r", "level": "note"}],
                    }
                ]
            },
            10,
        ),
        ({"results": [{"issue_severity": "High ", "issue_confidence": "HIGH"}]}, 10),
        ({"results": [{"check_id": "x", "extra": {"severity": "ERROR"}}]}, 10),
        ({"security_analysis": {"vulnerabilities": [{"id": "v1", "severity": "critical"}]}}, 10),
        (
            {
                "security_analysis": {"vulnerabilities": [{"id": "v1", "severity": "HIGH"}]},
                "suggestions": [{"id": "v1", "severity": "high"}, {"id": "s2", "severity": "low"}],
            },
            11,
        ),
    ],
)
def test_sarif_bandit_semgrep_and_code_analysis_severe_findings_are_read_whatever_their_casing(
    report: dict[str, Any], points: int
) -> None:
    generous = HumanInLoopSettings(_env_file=None, auto_approve_max_threshold=100)  # type: ignore[call-arg]
    context = {**ctx("low", report), "generated_code": "print(1)"}
    risk = assess(generous, "external_api", context, 100)
    assert risk.score == 10 + 5 + points
    assert not risk.auto_approve and "critical/high" in risk.reason


def test_findings_of_unknown_severity_block_auto_approval() -> None:
    generous = HumanInLoopSettings(_env_file=None, auto_approve_max_threshold=100)  # type: ignore[call-arg]
    risk = assess(generous, "external_api", ctx("low", {"findings": [{"severity": "bad"}]}), 100)
    assert not risk.auto_approve and "unknown severity" in risk.reason
