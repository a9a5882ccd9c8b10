"""Column sizes shared by the wire models (schemas.records) and the tables (schemas.tables).

Defined once so a wire field can never accept more than its column stores: an over-long value
must be a per-row rejection at validation, not a failed INSERT that takes the batch with it.
tests/unit/test_field_limits.py checks every sized column fed from the wire against these.
"""

from __future__ import annotations

AGENCY_CODE = 32
AGENCY_NAME = 200
SOURCE_SYSTEM = 100
SOURCE_ID = 200  # also case_source_id, related_source_id, subject_source_ids items
NAME = 400  # given_names / family_name, on the record and in person_names
ETHNICITY_CODE = 10
IDENTIFIER_VALUE = 200
POSTCODE = 10  # stored normalised ("AA9A 9AA" is the longest UK form)
UPRN = 12
CASE_NUMBER = 200
AUTHOR = 400
NOTE_TYPE = 100
