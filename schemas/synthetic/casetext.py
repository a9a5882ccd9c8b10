"""Template text for synthetic case notes. Plausible practice wording; no real people."""

from __future__ import annotations

import random

REFERRERS = (
    "the school", "the health visitor", "police", "the GP", "a neighbour", "an anonymous caller",
    "a relative", "the A&E department", "the school nurse", "the housing officer",
)
CONCERNS = (
    "neglect", "domestic abuse in the household", "parental substance misuse",
    "emotional harm", "poor school attendance", "housing conditions",
    "parental mental health", "missed health appointments", "exploitation risk",
)
CATEGORIES = ("neglect", "emotional abuse", "physical abuse", "sexual abuse")
PRESENTATION = (
    "well", "tired", "withdrawn", "happy and engaged", "unkempt", "anxious", "chatty",
)
SEEN = ("alone", "with a parent present", "at school", "at the family home", "at nursery")
INCIDENTS = (
    "a verbal argument", "a domestic incident", "a concern for welfare", "criminal damage",
    "a child reported missing", "antisocial behaviour", "a noise complaint",
)
RISK = ("standard", "medium", "high")

# (note type, template); templates for a specific case type are in CASE_TYPE_NOTES.
SOCIAL_CARE_NOTES: tuple[tuple[str, str], ...] = (
    ("contact", "Referral received from {referrer} regarding {child}. Concerns raised about "
                "{concern}."),
    ("home_visit", "Home visit completed. {child} was seen {seen} and appeared {presentation}."),
    ("home_visit", "Unannounced visit. No answer at the door; card left asking the family to "
                   "make contact."),
    ("strategy", "Strategy discussion held with police and health. Agreed to progress to "
                 "section 47 enquiries."),
    ("phone_call", "Telephone call from {referrer}: {child} has not attended for {n} days."),
    ("school", "School reports {child} arrived hungry and without a coat on {n} occasions this "
               "term."),
    ("health", "Health visitor contact: weight and development within the expected range."),
    ("direct_work", "Direct work session with {child} using the three houses tool. {child} "
                    "spoke about school and friends."),
    ("closure", "Case closed to children's social care; stepped down to early help."),
)
CASE_TYPE_NOTES: dict[str, tuple[tuple[str, str], ...]] = {
    "child_protection_plan": (
        ("conference", "Initial child protection conference held. {child} to be subject of a "
                       "child protection plan under the category of {category}."),
        ("core_group", "Core group meeting. Parent engaged well; actions from the plan "
                       "reviewed."),
    ),
    "child_in_need": (
        ("review", "Child in need review. Progress noted on {concern}; plan to continue."),
    ),
    "looked_after": (
        ("placement", "{child} moved to a new foster placement; contact arrangements agreed."),
        ("review", "Looked after review chaired by the independent reviewing officer. {child} "
                   "attended part of the meeting."),
    ),
    "early_help": (
        ("early_help", "Early help assessment completed with the family. Team around the "
                       "family meeting arranged at {child}'s school."),
    ),
}
POLICE_NOTES: tuple[tuple[str, str], ...] = (
    ("incident", "Officers attended the address following a report of {incident}. {kids} "
                 "present. DASH risk assessment: {risk}."),
    ("missing", "Missing episode reported; {child} located after {n} hours and returned home."),
    ("merlin", "Child concern notification (MERLIN) submitted for {child} and shared with "
               "children's social care."),
    ("follow_up", "Follow-up visit by the neighbourhood team; no further concerns raised."),
    ("intelligence", "Intelligence log updated following {incident}. No offences disclosed."),
)


def note_text(rng: random.Random, case_type: str, child: str) -> tuple[str, str]:
    """A (note type, text) pair about ``child`` (a given name as the agency recorded it)."""
    if case_type == "police_incident":
        options = POLICE_NOTES
    else:
        options = SOCIAL_CARE_NOTES + CASE_TYPE_NOTES.get(case_type, ()) * 3
    kind, template = rng.choice(options)
    text = template.format(
        child=child,
        referrer=rng.choice(REFERRERS),
        concern=rng.choice(CONCERNS),
        category=rng.choice(CATEGORIES),
        presentation=rng.choice(PRESENTATION),
        seen=rng.choice(SEEN),
        incident=rng.choice(INCIDENTS),
        risk=rng.choice(RISK),
        n=rng.randint(2, 9),
        kids=rng.choice(("One child", "Two children", "Three children", "No children")),
    )
    return kind, text
