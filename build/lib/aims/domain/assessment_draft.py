"""Pre-fill the owner's risk and impact assessment from the intake and its classification."""

from __future__ import annotations

from typing import Any

from aims.domain.classification import Classification
from aims.domain.intake import Intake
from aims.domain.policy import Policy

# Severity of a risk a rule raises, by the tier the rule asks for.
_IMPACT_BY_TIER = {"T2_MEDIUM": 3, "T3_HIGH": 4, "T4_UNACCEPTABLE": 5}
_SEVERITY_BY_EFFECT = {"none": 1, "minor": 2, "significant": 4, "legal_effect": 5}


def draft_assessment(intake: Intake, classification: Classification, policy: Policy) -> dict[str, Any]:
    """A starting point, never a submission: every value is meant to be reviewed by the owner."""
    risks = [
        {
            "description": f"{rule.rule} ({rule.theme}): {', '.join(rule.because)}",
            "likelihood": 3,
            "impact": _IMPACT_BY_TIER.get(rule.min_tier or "", 3),
            "treatment": "mitigate",
            "treatment_plan": "",
            "controls": list(policy.theme_controls.get(rule.theme, [])),
        }
        for rule in classification.triggered_rules
    ]
    if not risks:
        risks = [
            {
                "description": f"{intake.name} gives wrong or unexpected results",
                "likelihood": 2,
                "impact": 2,
                "treatment": "accept",
                "treatment_plan": "",
                "controls": ["A.6.2.4"],
            }
        ]
    stakeholders = [p for p in intake.people.affected_persons if p != "none"] or ["the organisation"]
    severity = _SEVERITY_BY_EFFECT[intake.people.decision_effect]
    impacts = [
        {
            "stakeholder": stakeholder,
            "description": f"{intake.purpose} ({intake.people.decision_role.replace('_', ' ')})",
            "severity": severity,
            "likelihood": 2,
            "mitigation": "",
        }
        for stakeholder in stakeholders
    ]
    return {"risks": risks, "stakeholders": stakeholders, "impacts": impacts, "conclusion": ""}
