from __future__ import annotations

from mcp_servers.human_in_loop import HumanInLoopSettings
from mcp_servers.human_in_loop._risk import assess

SETTINGS = HumanInLoopSettings(_env_file=None)  # type: ignore[call-arg]


def ctx(level: str, report: dict[str, object] | None = None) -> dict[str, object]:
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
    risk = assess(SETTINGS, "external_api", ctx("low"), 15)
    assert risk.auto_approve and risk.score == 15
    assert not assess(SETTINGS, "external_api", ctx("low"), 14).auto_approve
    assert not assess(SETTINGS, "external_api", ctx("low"), None).auto_approve


def test_a_high_threshold_is_capped_by_the_server() -> None:
    risk = assess(SETTINGS, "code_deployment", ctx("medium"), 100)
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
