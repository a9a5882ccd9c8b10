"""Map a FHIR R4 Patient (UK Core) onto the wire PersonRecord shape."""

from __future__ import annotations

from typing import Any

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
NHS_VERIFICATION_EXTENSION = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus")
# UK Core verification codes: 01 verified; 02 present, not traced; 03 trace required; ...
_VERIFICATION = {"01": "verified", "02": "unverified", "03": "trace_required"}
_NAME_USE = {"official": "current", "usual": "preferred", "nickname": "alias", "old": "former",
             "maiden": "maiden", "anonymous": "alias", "temp": "alias"}
_GENDER = {"male": "male", "female": "female", "other": "other", "unknown": "not_recorded"}
_ADDRESS_USE = {"home": "home", "temp": "placement", "old": "other", "work": "other",
                "billing": "other"}


def _verification(identifier: dict[str, Any]) -> str | None:
    for ext in identifier.get("extension") or []:
        if ext.get("url") != NHS_VERIFICATION_EXTENSION:
            continue
        for coding in (ext.get("valueCodeableConcept") or {}).get("coding") or []:
            return _VERIFICATION.get(str(coding.get("code")), "unknown")
    return None


def _period(obj: dict[str, Any]) -> dict[str, Any]:
    period = obj.get("period") or {}
    return {"from_date": (period.get("start") or "")[:10] or None,
            "to_date": (period.get("end") or "")[:10] or None}


def patient_to_record(patient: dict[str, Any], agency: str, source_system: str) -> dict[str, Any]:
    """Build the wire dict; validation (and its errors) happen in the pydantic model."""
    if not patient.get("id"):
        raise ValueError("id: a Patient needs an id to be its source id")
    meta = patient.get("meta") or {}
    version_text = str(meta.get("versionId") or "0")
    version = int(version_text) if version_text.isdigit() else 0

    names = []
    for name in patient.get("name") or []:
        given = " ".join(name.get("given") or []) or None
        entry = {"type": _NAME_USE.get(name.get("use") or "official", "alias"),
                 "given_names": given, "family_name": name.get("family"), **_period(name)}
        if entry["given_names"] or entry["family_name"]:
            names.append(entry)
    current = next((n for n in names if n["type"] == "current"), names[0] if names else None)

    identifiers = []
    for ident in patient.get("identifier") or []:
        if ident.get("system") == NHS_NUMBER_SYSTEM and ident.get("value"):
            identifiers.append({"type": "nhs_number", "value": str(ident["value"]),
                                "nhs_verification": _verification(ident)})
        elif ident.get("value"):
            identifiers.append({"type": "other", "value": str(ident["value"])})

    addresses = []
    for addr in patient.get("address") or []:
        lines = list(addr.get("line") or [])
        if addr.get("city"):
            lines.append(addr["city"])
        addresses.append({"type": _ADDRESS_USE.get(addr.get("use") or "home", "other"),
                          "lines": lines, "postcode": addr.get("postalCode"), **_period(addr)})

    deceased = patient.get("deceasedDateTime")
    gender = patient.get("gender")
    record: dict[str, Any] = {
        "record_type": "person",
        "source": {"agency": agency, "source_system": (meta.get("source") or source_system),
                   "source_id": str(patient["id"]), "version": version},
        "given_names": current["given_names"] if current else None,
        "family_name": current["family_name"] if current else None,
        "names": [n for n in names if n is not current],
        "date_of_birth": patient.get("birthDate"),
        "gender": _GENDER.get(gender, gender) if gender else "not_recorded",
        "identifiers": identifiers,
        "addresses": addresses,
    }
    if deceased:
        record["date_of_death"] = str(deceased)[:10]
    return record
