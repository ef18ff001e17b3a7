"""The intake in the requester's language: a plain label and a one-line help for every question,
and a plain label for every answer, kept beside the model so the web form, Slack and e-mail
say the same thing. `tests/test_wording.py` fails when the model gains a question or an answer
that has no words here."""

from __future__ import annotations

# Section titles and what each asks about.
SECTIONS: dict[str, tuple[str, str]] = {
    "": ("The use case", "What the AI system is for and who is accountable for it."),
    "sourcing": ("Where the AI comes from", "Built here or bought, under whose name, and for whom."),
    "suppliers": ("Your supplier", "Only for AI you buy or get from a third party: who supplies it and what they get."),
    "prohibited": ("Practices the EU AI Act forbids (Art. 5)",
                   "Answer “unsure” whenever in doubt: legal looks at it before anything else."),
    "high_risk": ("High-risk uses (Art. 6, Annex I and III)", "Uses the EU AI Act lists as high-risk."),
    "transparency": ("Telling people it is AI (Art. 50)", "When people must know they deal with AI or AI-made content."),
    "people": ("The people it affects", "Who is affected, how many, and how much the system decides about them."),
    "data": ("Data", "Which data the system uses, where it comes from, and what it is used for."),
    "accuracy": ("When it is wrong", "What a mistake costs and how mistakes are caught."),
    "security": ("Security", "What can reach the system and what the system can do."),
    "operations": ("Running it", "Optional now; required before the deployment is signed off."),
}  # fmt: skip

# Every question: (label, one-line help).
QUESTIONS: dict[str, tuple[str, str]] = {
    "name": ("Name of the use case", "A short name people will recognise, 3–200 characters."),
    "purpose": ("What it does", "The task, and which decision or action it influences."),
    "benefits": ("Why it is worth it", "The benefit for the organisation or the people it serves."),
    "business_owner": ("Accountable business owner", "The e-mail of the person who answers for it (an aims user)."),
    "technical_owner": ("Technical owner", "The e-mail of whoever runs it technically, if known."),
    "business_unit": ("Business unit", "The team or department that uses it."),
    "lifecycle_stage": ("Where it stands today", "From idea to already running."),
    "target_go_live": ("Planned go-live", "The date you aim for, if any."),
    "sourcing.methods": ("How the AI is built or bought", "Tick every way that applies."),
    "sourcing.own_name_or_trademark": ("Will it be offered under our name or brand?",
                                       "Putting our name on it can make us its provider under the Act."),
    "sourcing.substantial_modification": ("Do we substantially change a supplier's AI?",
                                          "E.g. fine-tuning it or changing its intended purpose."),
    "sourcing.gpai_provider": ("Do we provide a general-purpose AI model to others?",
                               "A model others build their own systems on."),
    "sourcing.data_sent_to_supplier": ("The most sensitive data a supplier receives", ""),
    "sourcing.dpa_signed": ("Is a data processing agreement signed with the supplier?", ""),
    "sourcing.supplier_may_train_on_our_data": ("May the supplier train its models on our data?", ""),
    "sourcing.change_notification": ("Will the supplier tell us before changing the model?", ""),
    "sourcing.supplier_docs": ("Documents the supplier gave us", "Tick every document you have."),
    "prohibited.manipulation": ("Does it manipulate people or use subliminal techniques that can harm them?",
                                "Art. 5(1)(a)."),
    "prohibited.exploits_vulnerabilities": ("Does it exploit people's age, disability or social situation?",
                                            "Art. 5(1)(b)."),
    "prohibited.social_scoring": ("Does it score people's social behaviour to treat them worse elsewhere?",
                                  "Art. 5(1)(c)."),
    "prohibited.crime_prediction_by_profiling": ("Does it predict whether someone will commit a crime from a profile?",
                                                 "Art. 5(1)(d)."),
    "prohibited.face_scraping": ("Does it build face databases by scraping images from the internet or CCTV?",
                                 "Art. 5(1)(e)."),
    "prohibited.emotion_recognition_work_or_education": ("Does it infer emotions of people at work or in education?",
                                                         "Art. 5(1)(f)."),
    "prohibited.emotion_recognition_medical_or_safety": ("If so, is that only for medical or safety reasons?",
                                                         "The one exception Art. 5(1)(f) allows."),
    "prohibited.biometric_categorisation_sensitive": (
        "Does it sort people by biometrics into race, politics, religion, sex life or similar?", "Art. 5(1)(g)."),
    "prohibited.realtime_remote_biometric_id_law_enforcement": (
        "Is it real-time remote biometric identification in public spaces for law enforcement?", "Art. 5(1)(h)."),
    "high_risk.annex_i_product": ("Is it a safety component of a regulated product (machinery, toys, medical devices…)?",
                                  "EU product law listed in Annex I."),
    "high_risk.annex_i_third_party_conformity": ("Does that product need a third-party conformity assessment?", ""),
    "high_risk.annex_iii_uses": ("Is it used for any of these?", "Tick every Annex III use that applies, or “none”."),
    "high_risk.profiling": ("Does it profile people (evaluate them from personal data)?",
                            "Profiling in an Annex III use is always high-risk."),
    "high_risk.art6_3_derogation": ("Does an Art. 6(3) exception apply?",
                                    "Only when it does not materially influence decisions about people."),
    "high_risk.derogation_justification": ("Why the exception applies", "Required when you claim one."),
    "transparency.interacts_with_people": ("Do people talk or write to it directly?", "Art. 50(1)."),
    "transparency.generates_synthetic_content": ("Does it generate images, audio, video or text?", "Art. 50(2)."),
    "transparency.deep_fakes": ("Can it make realistic fakes of real people, places or events?", "Art. 50(4)."),
    "transparency.public_interest_text_unreviewed": (
        "Does it publish text on matters of public interest without human review?", "Art. 50(4)."),
    "transparency.emotion_or_biometric_categorisation": (
        "Does it recognise emotions or sort people by biometrics?", "Art. 50(3): people must be told."),
    "people.affected_persons": ("Who is affected", "Tick every group, or “nobody”."),
    "people.exposure": ("Who uses it or sees its output", ""),
    "people.people_per_year": ("How many people it affects each year", "A rough estimate is fine."),
    "people.decision_role": ("How much it decides about people", ""),
    "people.decision_effect": ("What those decisions mean for the people concerned", ""),
    "people.human_can_override": ("Can a person override its output?", ""),
    "people.contest_channel": ("Can affected people contest an outcome?", ""),
    "people.protected_characteristics": ("Could it treat people differently by sex, origin, age or similar?", ""),
    "people.jurisdictions": ("Where the affected people are", "Comma-separated region or country codes, e.g. EU, US."),
    "data.personal_data": ("Personal data it uses", "Tick every kind, or “none”."),
    "data.sources": ("Where the data comes from", "Tick every source."),
    "data.use": ("What the data is used for", ""),
    "data.dpia_status": ("Data protection impact assessment (DPIA)", ""),
    "data.provenance_documented": ("Is the data's origin documented?", ""),
    "data.quality_checks_defined": ("Are data quality checks defined?", ""),
    "accuracy.worst_consequence": ("The worst that happens when it is wrong", ""),
    "accuracy.human_checks_outputs": ("Does a person check its outputs?", ""),
    "accuracy.acceptance_metrics_defined": ("Are accuracy targets defined?", ""),
    "accuracy.validation_data_representative": ("Is it tested on data like the real cases?", ""),
    "accuracy.generative_external_factual": ("Does it tell people outside the organisation facts it generates?",
                                             "E.g. a chatbot answering customers."),
    "accuracy.learns_after_deployment": ("Does it keep learning once deployed?", ""),
    "security.network_exposure": ("Who can reach it over the network", ""),
    "security.untrusted_input": ("Does it read input from people or sources we do not control?",
                                 "E-mails, web pages, customer uploads, prompts from the public."),
    "security.tool_actions": ("What it can do by itself in other systems", ""),
    "security.confidential_access": ("Can it read confidential data?", ""),
    "security.event_logging": ("Are its inputs, outputs and actions logged?", ""),
    "operations.monitoring_plan": ("How it will be monitored", ""),
    "operations.kill_switch": ("Can it be switched off at once?", ""),
    "operations.incident_contact": ("Who to call when it goes wrong", "An e-mail or on-call address."),
    "operations.decommission_plan": ("How it will be retired", ""),
    "sourcing.suppliers.name": ("Supplier", "The main supplier, if bought or built on a third-party model."),
    "sourcing.suppliers.model": ("Model", ""),
    "sourcing.suppliers.version_pinned": ("Is the model version pinned?", ""),
    "sourcing.suppliers.hosting_region": ("Where the supplier hosts it", ""),
    "sourcing.suppliers.gpai": ("Is it a general-purpose AI model?", ""),
}  # fmt: skip

ANSWERS_BY_QUESTION: dict[str, dict[str, str]] = {
    "high_risk.art6_3_derogation": {
        "none": "No exception",
        "a": "It only does a narrow procedural task — Art. 6(3)(a)",
        "b": "It only improves the result of work a person already did — Art. 6(3)(b)",
        "c": "It only detects patterns or deviations, without replacing a person's review — Art. 6(3)(c)",
        "d": "It only prepares an assessment for an Annex III use — Art. 6(3)(d)",
    },
    "people.decision_effect": {
        "none": "No effect on them", "minor": "Minor", "significant": "Significant (e.g. access to a service, price)",
        "legal_effect": "A legal effect (e.g. a contract, a right, a benefit)",
    },
    "sourcing.data_sent_to_supplier": {
        "none": "Nothing", "public": "Public data only", "internal": "Internal data",
        "confidential": "Confidential data", "personal": "Personal data", "special_category": "Sensitive personal data",
    },
}  # fmt: skip

ANSWERS: dict[str, str] = {
    "yes": "Yes", "no": "No", "unsure": "Not sure",
    # lifecycle_stage
    "idea": "An idea", "sandbox": "Trying it out in a sandbox", "pilot": "A pilot", "production": "Already running",
    "change_to_existing": "A change to an AI system we already run",
    # sourcing methods
    "built_in_house": "Built in house", "fine_tuned_third_party_model": "A supplier's model we fine-tune",
    "third_party_model_via_api": "A supplier's model we call (API)", "third_party_saas_as_is": "A supplier's AI product, used as is",
    "ai_feature_in_existing_vendor_software": "An AI feature in software we already use",
    "open_weights_self_hosted": "An open-weights model we host ourselves",
    # supplier documents
    "instructions_for_use": "Instructions for use", "model_card": "Model card",
    "downstream_provider_info": "Information for providers building on it", "security_attestation": "Security attestation",
    # Annex III
    "none": "None",
    "iii_1a": "Remote biometric identification of people — Annex III 1(a)",
    "iii_1b": "Sorting people into groups by biometrics — Annex III 1(b)",
    "iii_1c": "Emotion recognition — Annex III 1(c)",
    "iii_2a": "Safety of critical infrastructure (roads, water, gas, heating, electricity, digital) — Annex III 2(a)",
    "iii_3a": "Admission or assignment to education or training — Annex III 3(a)",
    "iii_3b": "Evaluating learning outcomes — Annex III 3(b)",
    "iii_3c": "Deciding the level of education someone gets — Annex III 3(c)",
    "iii_3d": "Watching students for cheating in tests — Annex III 3(d)",
    "iii_4a": "Recruitment: job ads, screening or ranking applicants — Annex III 4(a)",
    "iii_4b": "Work decisions: promotion, termination, tasks, monitoring performance — Annex III 4(b)",
    "iii_5a": "Eligibility for public benefits and services — Annex III 5(a)",
    "iii_5b": "Creditworthiness or credit scoring of people — Annex III 5(b)",
    "iii_5c": "Risk and pricing in life or health insurance — Annex III 5(c)",
    "iii_5d": "Emergency calls, dispatch or patient triage — Annex III 5(d)",
    "iii_6a": "Police: the risk of someone becoming a victim — Annex III 6(a)",
    "iii_6b": "Police: polygraphs and similar tools — Annex III 6(b)",
    "iii_6c": "Police: judging the reliability of evidence — Annex III 6(c)",
    "iii_6d": "Police: the risk of someone offending or re-offending — Annex III 6(d)",
    "iii_6e": "Police: profiling in criminal investigations — Annex III 6(e)",
    "iii_7a": "Migration: polygraphs and similar tools — Annex III 7(a)",
    "iii_7b": "Migration: assessing risks posed by people entering — Annex III 7(b)",
    "iii_7c": "Migration: asylum, visa and residence applications — Annex III 7(c)",
    "iii_7d": "Migration: detecting or identifying people — Annex III 7(d)",
    "iii_8a": "Helping courts research or apply the law — Annex III 8(a)",
    "iii_8b": "Influencing elections or how people vote — Annex III 8(b)",
    # affected persons
    "employees": "Employees", "job_applicants": "Job applicants", "students": "Students", "patients": "Patients",
    "consumers_customers": "Consumers or customers", "general_public": "The general public", "children": "Children",
    "other_vulnerable": "Other vulnerable people", "migrants": "Migrants or asylum seekers",
    "suspects_defendants": "Suspects or defendants",
    # exposure
    "internal_only": "Only people inside the organisation", "business_customers": "Business customers",
    "consumers": "Consumers",
    # people per year
    "under_100": "Fewer than 100", "100_to_10k": "100 to 10,000", "10k_to_1m": "10,000 to a million",
    "over_1m": "More than a million",
    # decision role
    "no_decisions_about_people": "It decides nothing about people", "informational_assistive": "It informs or assists a person",
    "recommendation_to_human": "It recommends; a person decides", "automated_with_human_review": "It decides; a person reviews",
    "fully_automated": "It decides alone",
    # personal data
    "pseudonymised": "Pseudonymised data", "ordinary_personal": "Ordinary personal data (names, contacts…)",
    "special_category": "Sensitive data (health, religion, union membership…)", "criminal_offence": "Criminal records",
    "biometric": "Biometric data", "precise_location": "Precise location",
    # data sources
    "internal_systems": "Our own systems", "customer_provided": "Provided by customers", "user_prompts": "What users type in",
    "public_web_scraped": "Scraped from the web", "purchased_third_party": "Bought from third parties",
    "synthetic": "Synthetic data",
    # data use
    "inference_only": "Only to produce outputs", "training_or_fine_tuning": "To train or fine-tune a model",
    "both": "Both",
    # DPIA
    "not_needed": "Not needed", "needed_not_started": "Needed, not started", "in_progress": "In progress", "done": "Done",
    # worst consequence
    "negligible": "Negligible", "recoverable_inconvenience": "An inconvenience that can be put right",
    "financial_or_material_harm": "Financial or material harm", "harm_to_health_safety_or_rights": "Harm to health, safety or rights",
    "irreversible_or_catastrophic": "Irreversible or catastrophic harm",
    # human checks
    "always": "Always", "sampled": "A sample", "never": "Never",
    # network exposure
    "internal": "Only the internal network", "authenticated_external": "Signed-in people from outside",
    "public_internet": "Anyone on the internet",
    # tool actions
    "read_only": "Read other systems", "write_actions": "Change data in other systems",
    "financial_or_irreversible_actions": "Move money or do things that cannot be undone",
}  # fmt: skip


def question(path: str) -> tuple[str, str]:
    """(label, help) of a question; `path` is dotted (`people.exposure`), a supplier's field too."""
    return QUESTIONS.get(path, (path.rsplit(".", 1)[-1].replace("_", " ").capitalize(), ""))


def answer(path: str, value: str) -> str:
    return ANSWERS_BY_QUESTION.get(path, {}).get(value) or ANSWERS.get(value) or value.replace("_", " ")


ROLES: dict[str, str] = {
    "risk": "the risk officer", "privacy": "privacy", "security": "security", "legal": "legal",
    "executive": "an executive", "aims_owner": "the AIMS owner", "admin": "an admin",
}  # fmt: skip


# What a use case waits for in each waiting status (the status alone says "approved").
STAGE_WAITING: dict[str, str] = {
    "assessment": "the risk and impact assessment", "changes_requested": "a revision (changes requested)",
    "legal_hold": "legal's prohibited-practice screen", "approved": "the deployment sign-off",
    "suspended": "re-approval (suspended)", "decommissioning": "the decommission to finish",
    "incident_triage": "the incident triage",
}  # fmt: skip


def counted(count: int, noun: str) -> str:
    """A count with its noun, as a sentence says it: '1 use case', '3 use cases', '0 answers'."""
    return f"{count} {noun if count == 1 else noun + 's'}"


def role_name(role: str) -> str:
    """A role as a label reads it: 'AIMS owner', 'risk'."""
    return "AIMS owner" if role == "aims_owner" else role.replace("_", " ")


def who(names: list[str]) -> str:
    """Whoever must act, as a list reads it: roles by name, people by e-mail ('AIMS owner, a@b.org')."""
    return ", ".join(name if "@" in name else role_name(name) for name in names)


def next_steps(category: str, review_roles: list[str], final_role: str | None) -> str:
    """What happens after the intake is submitted, in words (the classification preview)."""
    if category == "PROHIBITED":
        return "It cannot go ahead: the EU AI Act forbids this practice, so it will be rejected."
    if category == "LEGAL_HOLD":
        return "Legal looks at it first; nothing else happens until they have."
    who = [ROLES.get(role, role) for role in review_roles]
    reviews = f"{', '.join(who[:-1])} and {who[-1]}" if len(who) > 1 else (who[0] if who else "")
    steps = ["the business owner fills in the risk and impact assessment"]
    if reviews:
        steps.append(f"{reviews} review it")
    if final_role:
        steps.append(f"{ROLES.get(final_role, final_role)} gives the final approval")
    return "Next: " + ", then ".join(steps) + "; once approved, the owner signs off the deployment."
