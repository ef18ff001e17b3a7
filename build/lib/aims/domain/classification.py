"""Risk classification: a pure function of an intake and the policy (contract section 2)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from aims.domain import conditions
from aims.domain.intake import Intake
from aims.domain.policy import TIERS, Policy, Tier, tier_rank

Category = Literal[
    "PROHIBITED",
    "LEGAL_HOLD",
    "HIGH_RISK_ANNEX_I",
    "HIGH_RISK_ANNEX_III",
    "ANNEX_III_NOT_HIGH_RISK_ART6_3",
    "TRANSPARENCY_ONLY",
    "OUT_OF_SCOPE_RESEARCH",
    "MINIMAL",
]
FACTS = frozenset({"personal_data_present", "third_party", "annex_iii_present", "supplier_unpinned"})

# The emotion-recognition medical/safety answer qualifies its work/education sibling; it is
# not itself a prohibited practice.
_PROHIBITED_PRACTICES = (
    "manipulation",
    "exploits_vulnerabilities",
    "social_scoring",
    "crime_prediction_by_profiling",
    "face_scraping",
    "emotion_recognition_work_or_education",
    "biometric_categorisation_sensitive",
    "realtime_remote_biometric_id_law_enforcement",
)
_BASE_TIER: dict[str, Tier] = {
    "PROHIBITED": "T4_UNACCEPTABLE",
    "LEGAL_HOLD": "T4_UNACCEPTABLE",
    "HIGH_RISK_ANNEX_I": "T3_HIGH",
    "HIGH_RISK_ANNEX_III": "T3_HIGH",
    "ANNEX_III_NOT_HIGH_RISK_ART6_3": "T2_MEDIUM",
}
_RISKY = {"yes", "unsure"}


class TriggeredRule(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule: str
    theme: str
    min_tier: Tier | None = None
    blocks: Literal["deployment_signoff"] | None = None
    because: list[str]


class Classification(BaseModel):
    model_config = ConfigDict(frozen=True)

    regulatory_category: Category
    aims_tier: Tier
    flags: list[str]
    triggered_rules: list[TriggeredRule]
    signoff_blockers: list[str]
    rubric_version: str
    # Why the category was chosen, for the register and the auditor.
    category_reason: list[str]

    def fired(self, rule: str) -> bool:
        return any(t.rule == rule for t in self.triggered_rules)

    def themes(self) -> set[str]:
        return {t.theme for t in self.triggered_rules}


def facts_of(intake: Intake) -> dict[str, bool]:
    return {
        "personal_data_present": intake.data.personal_data_present,
        "third_party": intake.sourcing.third_party,
        "annex_iii_present": list(intake.high_risk.annex_iii_uses) != ["none"],
        "supplier_unpinned": any(s.version_pinned != "yes" for s in intake.sourcing.suppliers),
    }


def classify(intake: Intake, policy: Policy) -> Classification:
    document = intake.model_dump(mode="json")
    facts = facts_of(intake)
    category, category_reason, annex_iii = _category(intake)

    tier: str = _BASE_TIER.get(category, "T1_LOW")
    if intake.sourcing.gpai_provider in _RISKY:
        tier = _max_tier(tier, "T3_HIGH")

    triggered: list[TriggeredRule] = []
    flags: set[str] = set()
    for rule in policy.escalators:
        holds, because = conditions.evaluate(rule.when, document, facts)
        if not holds:
            continue
        min_tier: str = rule.min_tier
        for raise_to in rule.raise_to:
            raised, why = conditions.evaluate(raise_to.when, document, facts)
            if raised:
                min_tier, because = _max_tier(min_tier, raise_to.tier), because + why
        triggered.append(
            TriggeredRule(rule=rule.rule, theme=rule.theme, min_tier=min_tier, blocks=rule.blocks, because=because)
        )
        tier = _max_tier(tier, min_tier)
        if rule.flag:
            flags.add(rule.flag)

    for blocker in policy.signoff_blockers:
        holds, because = conditions.evaluate(blocker.when, document, facts, tier=tier)
        if holds:
            triggered.append(
                TriggeredRule(rule=blocker.rule, theme=blocker.theme, blocks="deployment_signoff", because=because)
            )

    flags |= _flags(intake, category, tier, annex_iii, {t.rule for t in triggered})
    return Classification(
        regulatory_category=category,
        aims_tier=tier,  # type: ignore[arg-type]
        flags=sorted(flags),
        triggered_rules=triggered,
        signoff_blockers=[t.rule for t in triggered if t.blocks == "deployment_signoff"],
        rubric_version=policy.version,
        category_reason=category_reason,
    )


def _category(intake: Intake) -> tuple[Category, list[str], set[str]]:
    """First match wins (contract 2.1). Also returns the effective Annex III uses."""
    screen = intake.prohibited
    annex_iii = set(intake.high_risk.annex_iii_uses) - {"none"}
    yes = [key for key in _PROHIBITED_PRACTICES if getattr(screen, key) == "yes"]
    unsure = [key for key in _PROHIBITED_PRACTICES if getattr(screen, key) == "unsure"]
    if yes == ["emotion_recognition_work_or_education"]:
        exception = screen.emotion_recognition_medical_or_safety
        if exception == "yes":
            # Medical or safety reasons take it out of Art. 5(1)(f) and into Annex III point 1(c).
            yes, annex_iii = [], annex_iii | {"iii_1c"}
        elif exception == "unsure":
            # Whether the exception applies is for legal to decide (contract §2.1 rule 1).
            reasons = ["prohibited.emotion_recognition_work_or_education=yes",
                       "prohibited.emotion_recognition_medical_or_safety=unsure"]  # fmt: skip
            return "LEGAL_HOLD", reasons, annex_iii
    if yes:
        return "PROHIBITED", [f"prohibited.{key}=yes" for key in yes], annex_iii
    if unsure:
        return "LEGAL_HOLD", [f"prohibited.{key}=unsure" for key in unsure], annex_iii

    high_risk = intake.high_risk
    if high_risk.annex_i_product in _RISKY and high_risk.annex_i_third_party_conformity in _RISKY:
        return (
            "HIGH_RISK_ANNEX_I",
            [
                f"high_risk.annex_i_product={high_risk.annex_i_product}",
                f"high_risk.annex_i_third_party_conformity={high_risk.annex_i_third_party_conformity}",
            ],
            annex_iii,
        )
    if annex_iii:
        uses = f"high_risk.annex_iii_uses=[{','.join(sorted(annex_iii))}]"
        if high_risk.profiling in _RISKY:
            return "HIGH_RISK_ANNEX_III", [uses, f"high_risk.profiling={high_risk.profiling}"], annex_iii
        if high_risk.art6_3_derogation != "none":
            reason = [uses, f"high_risk.art6_3_derogation={high_risk.art6_3_derogation}"]
            return "ANNEX_III_NOT_HIGH_RISK_ART6_3", reason, annex_iii
        return "HIGH_RISK_ANNEX_III", [uses], annex_iii
    transparency = [
        f"transparency.{key}={value}" for key, value in intake.transparency.model_dump().items() if value in _RISKY
    ]
    if transparency:
        return "TRANSPARENCY_ONLY", transparency, annex_iii
    if intake.lifecycle_stage == "sandbox":
        return "OUT_OF_SCOPE_RESEARCH", ["lifecycle_stage=sandbox"], annex_iii
    return "MINIMAL", [], annex_iii


def _flags(intake: Intake, category: str, tier: str, annex_iii: set[str], fired: set[str]) -> set[str]:
    t = intake.transparency
    flags: set[str] = set()
    if t.interacts_with_people in _RISKY:
        flags.add("ART50_1_CHATBOT")
    if t.generates_synthetic_content in _RISKY:
        flags.add("ART50_2_SYNTHETIC_MARKING")
    if t.emotion_or_biometric_categorisation in _RISKY:
        flags.add("ART50_3_EMOTION_BIOCAT_NOTICE")
    if t.deep_fakes in _RISKY or t.public_interest_text_unreviewed in _RISKY:
        flags.add("ART50_4_DEEPFAKE_OR_PUBLIC_TEXT")
    if category == "HIGH_RISK_ANNEX_III" and annex_iii & {"iii_5b", "iii_5c"}:
        flags.add("FRIA_REQUIRED")
    high = tier_rank(tier) >= tier_rank("T3_HIGH")
    if intake.data.personal_data_present and (high or fired & {"PRV-1", "PRV-2", "PRV-3"}):
        flags.add("DPIA_REQUIRED")
    if high and "employees" in intake.people.affected_persons:
        flags.add("WORKER_INFO_REQUIRED")
    if intake.sourcing.gpai_provider in _RISKY:
        flags.add("GPAI_PROVIDER")
    if any(s.gpai in _RISKY for s in intake.sourcing.suppliers):
        flags.add("GPAI_DOWNSTREAM")
    return flags


def _max_tier(a: str, b: str) -> str:
    return TIERS[max(tier_rank(a), tier_rank(b))]


def review_roles(classification: Classification, intake: Intake, policy: Policy) -> tuple[list[str], str | None]:
    """Routing (contract 3): the parallel review roles and the final role; no gates for T4."""
    if classification.aims_tier == "T4_UNACCEPTABLE":
        return [], None
    route = getattr(policy.routing, classification.aims_tier)
    facts: dict[str, Any] = facts_of(intake) | {f"theme:{theme}": True for theme in classification.themes()}
    document = intake.model_dump(mode="json")
    roles: list[str] = []
    for gate in route.review:
        if gate.when is None or conditions.evaluate(gate.when, document, facts)[0]:
            roles.append(gate.role)
    for role in policy.routing.category_extra_review.get(classification.regulatory_category, []):
        if role not in roles:
            roles.append(role)
    return roles, route.final


def check_policy(policy: Policy) -> Policy:
    """Validate every condition of the policy against the intake model; raise on the first error."""
    known = set(FACTS)

    def field_exists(path: str) -> bool:
        model: Any = Intake
        for part in path.split("."):
            fields = getattr(model, "model_fields", None)
            if not fields or part not in fields:
                return False
            model = fields[part].annotation
        return True

    for rule in policy.escalators:
        conditions.validate(rule.when, field_exists, known, rule.rule)
        for raise_to in rule.raise_to:
            conditions.validate(raise_to.when, field_exists, known, f"{rule.rule}.raise_to")
    for blocker in policy.signoff_blockers:
        conditions.validate(blocker.when, field_exists, known, blocker.rule)
    for tier in ("T1_LOW", "T2_MEDIUM", "T3_HIGH"):
        for gate in getattr(policy.routing, tier).review:
            if gate.when is not None:
                conditions.validate(gate.when, field_exists, known, f"routing.{tier}.{gate.role}")
    return policy
