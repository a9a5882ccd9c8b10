"""Synthetic multi-agency extracts with a known truth, for tests, demos and benchmarks.

``generate_extracts(people, seed, out)`` writes, deterministically for a seed:

* ``agencies.json``            the four agencies ({code, name, kind})
* ``social_care.jsonl``        SC: wire-model JSON Lines (person, case, case_note)
* ``police.jsonl``             POL: wire-model JSON Lines (person, case, case_note)
* ``health_patients.ndjson``   HEA: one FHIR R4 Patient resource per line
* ``education_pupils.csv``     EDU: CSV with ``EDUCATION_CSV_COLUMNS``
* ``truth.csv``                every person record -> its true person (``TRUTH_COLUMNS``)
* ``planted_rejects.csv``      rows that validation must reject (``PLANTED_REJECT_COLUMNS``)
* ``manifest.json``            files, formats, source systems and counts

No real people: names come from Faker('en_GB') and fixed name tables, NHS numbers from the
unallocated 9xx range.
"""

from schemas.synthetic.generator import (
    AGENCIES,
    AS_OF,
    EDUCATION_CSV_COLUMNS,
    FILES,
    NHS_NUMBER_SYSTEM,
    PLANTED_REJECT_COLUMNS,
    SOURCE_SYSTEMS,
    TRUTH_COLUMNS,
    VARIANT_KINDS,
    GenerationSummary,
    generate_extracts,
    invalid_nhs_number,
    nhs_number_for,
    upn_for,
)

__all__ = [
    "AGENCIES",
    "AS_OF",
    "EDUCATION_CSV_COLUMNS",
    "FILES",
    "NHS_NUMBER_SYSTEM",
    "PLANTED_REJECT_COLUMNS",
    "SOURCE_SYSTEMS",
    "TRUTH_COLUMNS",
    "VARIANT_KINDS",
    "GenerationSummary",
    "generate_extracts",
    "invalid_nhs_number",
    "nhs_number_for",
    "upn_for",
]
