"""FHIR R4 resources -> flat records (pure Python, runs on Spark executors).

:func:`parse_file` turns one file (a Bundle, ``.json``/``.json.gz``, or an NDJSON bulk-export file)
into :data:`RECORD_FIELDS` dicts: per resource one ``seen`` record (conservation) and the
records it yields (``person``, ``visit``, ``event``, ``care_site``, ``provider``, ``location``,
``alias`` for reference resolution, or ``filtered`` with a reason). Only whitelisted elements
are read: names, telecom, street lines, identifiers other than resource ids, free-text
narratives and UDI carriers never leave this module.

References are normalised here and resolved in Spark (:mod:`mlhops.etl.sources.fhir`):
``Type/id`` -> ``id``; ``urn:uuid:...`` and conditional ``Type?identifier=system|value``
references stay as aliases that the ``alias`` records of every file map to resource ids.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

KINDS = ("seen", "person", "visit", "event", "care_site", "provider", "location", "alias", "medication", "filtered", "reject")

# Every record has these keys (strings unless noted); absent values are None.
RECORD_FIELDS: tuple[str, ...] = (
    "kind", "source_table", "source_line",  # source_line: int
    "key", "person_ref", "visit_ref", "provider_ref", "care_site_ref", "location_key",
    "start", "end", "vocabulary_id", "code", "default_domain",
    "value_number", "quantity",  # float
    "value_string", "unit", "gender", "race", "ethnicity", "city", "state", "zip", "name",
    "visit_class", "reason", "field",
)
NUMERIC_FIELDS = {"value_number", "quantity"}

SYSTEM_VOCABULARY: dict[str, str] = {
    "http://snomed.info/sct": "SNOMED",
    "http://loinc.org": "LOINC",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://hl7.org/fhir/sid/cvx": "CVX",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD10CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD10",
}
# v3 ActCode encounter classes -> the visit classes of etl.standard_concepts.visit.
ENCOUNTER_CLASS: dict[str, str] = {
    "AMB": "ambulatory", "EMER": "emergency", "IMP": "inpatient", "ACUTE": "inpatient",
    "NONAC": "inpatient", "OBSENC": "outpatient", "PRENC": "ambulatory", "SS": "outpatient",
    "VR": "virtual", "HH": "home",
}
GENDER = {"male": "M", "female": "F", "other": "O", "unknown": "U"}
# OMB ethnicity codes (urn:oid:2.16.840.1.113883.6.238) -> etl.standard_concepts.ethnicity keys.
ETHNICITY = {"2135-2": "hispanic", "2186-5": "nonhispanic"}
RACE_EXT = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
ETHNICITY_EXT = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
ZIP_DIGITS = 3
NO_TARGET = "no OMOP CDM v5.4 target"
REFERENCED = "referenced by other resources (no row of its own)"
EXPANDED = "file expanded into its resources"
FILE_TABLE = "fhir_files"
# Resources only read to resolve references or to label other rows.
_REFERENCE_ONLY = {"Medication", "Location", "PractitionerRole"}


def _rec(kind: str, table: str, line: int, **values: Any) -> dict[str, Any]:
    rec: dict[str, Any] = dict.fromkeys(RECORD_FIELDS)
    rec.update(kind=kind, source_table=table, source_line=line, **values)
    return rec


def ref(value: Any) -> str | None:
    """Normalised reference: ``Type/id`` -> ``id``; other forms stay aliases (see module doc)."""
    if not isinstance(value, dict):
        return None
    r = value.get("reference")
    if not isinstance(r, str) or not r:
        return None
    if r.startswith("urn:") or "?" in r:
        if "?identifier=" in r:
            rtype, _, ident = r.partition("?identifier=")
            return f"ident:{rtype}|{ident.rsplit('|', 1)[-1]}"
        return r
    return r.rsplit("/", 1)[-1]


def _coding(concept: Any) -> tuple[str | None, str | None]:
    """(vocabulary_id, code) of the first coding of a known system, else of the first coding."""
    if not isinstance(concept, dict):
        return None, None
    codings = [c for c in concept.get("coding", []) if isinstance(c, dict) and c.get("code")]
    for c in codings:
        if c.get("system") in SYSTEM_VOCABULARY:
            return SYSTEM_VOCABULARY[c["system"]], str(c["code"])
    if codings:
        return str(codings[0].get("system") or "None"), str(codings[0]["code"])
    return None, None


def _value(holder: dict[str, Any]) -> tuple[float | None, str | None, str | None]:
    """(number, text, unit) of an element's value[x], for every value type R4 allows."""
    if "valueQuantity" in holder:
        q = holder["valueQuantity"] or {}
        num = q.get("value")
        return (float(num) if isinstance(num, int | float) else None), None, q.get("code") or q.get("unit")
    for key in ("valueInteger", "valueDecimal"):
        if key in holder and isinstance(holder[key], int | float):
            return float(holder[key]), None, None
    if "valueCodeableConcept" in holder:
        cc = holder["valueCodeableConcept"] or {}
        text = cc.get("text") or next((c.get("display") or c.get("code") for c in cc.get("coding", [])), None)
        return None, text, None
    if "valueBoolean" in holder:
        return None, str(bool(holder["valueBoolean"])).lower(), None
    if "valueRange" in holder:
        low = (holder["valueRange"] or {}).get("low", {}).get("value")
        return (float(low) if isinstance(low, int | float) else None), None, None
    if "valueRatio" in holder:
        r = holder["valueRatio"] or {}
        n, d = r.get("numerator", {}).get("value"), r.get("denominator", {}).get("value")
        return (float(n) / float(d) if isinstance(n, int | float) and d else None), None, None
    for key in ("valueString", "valueDateTime", "valueTime", "valuePeriod", "valueSampledData"):
        if key in holder:
            v = holder[key]
            return None, (v if isinstance(v, str) else key[5:]), None
    return None, None, None


def _period(res: dict[str, Any], *names: str) -> tuple[str | None, str | None]:
    for name in names:
        v = res.get(name)
        if isinstance(v, str):
            return v, None
        if isinstance(v, dict) and v.get("start"):
            return v.get("start"), v.get("end")
    return None, None


def _event(table: str, line: int, key: str, res: dict[str, Any], concept: Any, domain: str,
           start: str | None, end: str | None = None, **values: Any) -> dict[str, Any]:
    vocab, code = _coding(concept)
    person = ref(res.get("subject")) or ref(res.get("patient"))
    visit = ref(res.get("encounter")) or ref(res.get("context"))
    return _rec("event", table, line, key=key, person_ref=person, visit_ref=visit, start=start, end=end,
                vocabulary_id=vocab, code=code, default_domain=domain, **values)


def _ext(res: dict[str, Any], url: str) -> dict[str, Any]:
    return next((e for e in res.get("extension", []) if isinstance(e, dict) and e.get("url") == url), {})


def _address(res: dict[str, Any]) -> dict[str, Any]:
    addr = res.get("address")
    addr = addr[0] if isinstance(addr, list) and addr else (addr if isinstance(addr, dict) else {})
    digits = "".join(ch for ch in str(addr.get("postalCode") or "") if ch.isdigit())
    return {"city": addr.get("city"), "state": addr.get("state"), "zip": digits[:ZIP_DIGITS] or None}


def resource_records(res: dict[str, Any], line: int, full_url: str | None) -> list[dict[str, Any]]:
    """Records of one resource (its ``seen`` record included)."""
    rtype = str(res.get("resourceType") or "Unknown")
    rid = res.get("id")
    out = [_rec("seen", rtype, line)]
    if not rid:
        out.append(_rec("reject", rtype, line, field="id", reason="resource without id"))
        return out
    rid = str(rid)
    out.append(_rec("alias", rtype, line, key=rid, name=f"{rtype}/{rid}"))
    if full_url:
        out.append(_rec("alias", rtype, line, key=rid, name=full_url))
    for ident in res.get("identifier", []) if rtype in {"Organization", "Practitioner", "Location"} else []:
        if isinstance(ident, dict) and ident.get("value"):
            out.append(_rec("alias", rtype, line, key=rid, name=f"ident:{rtype}|{ident['value']}"))
    key = f"{rtype}/{rid}"
    if rtype == "Patient":
        race = _ext(res, RACE_EXT)
        race_text = next((e.get("valueString") for e in race.get("extension", []) if e.get("url") == "text"), None)
        eth = _ext(res, ETHNICITY_EXT)
        eth_code = next((e.get("valueCoding", {}).get("code") for e in eth.get("extension", []) if e.get("url") == "ombCategory"), None)
        addr = _address(res)
        loc = "|".join(["residence", addr["city"] or "", addr["state"] or "", "", addr["zip"] or ""]) if any(addr.values()) else None
        out.append(_rec("person", rtype, line, key=rid, start=res.get("birthDate"), end=res.get("deceasedDateTime"),
                        gender=GENDER.get(str(res.get("gender")), res.get("gender")),
                        race=race_text.lower() if race_text else None, ethnicity=ETHNICITY.get(eth_code or "", eth_code),
                        location_key=loc))
        if loc:
            out.append(_rec("location", rtype, line, location_key=loc, **addr))
    elif rtype == "Encounter":
        start, end = _period(res, "period")
        cls = res.get("class") or {}
        code = cls.get("code") if isinstance(cls, dict) else None
        parts = [p for p in res.get("participant", []) if isinstance(p, dict)]
        out.append(_rec("visit", rtype, line, key=rid, person_ref=ref(res.get("subject")), start=start, end=end,
                        visit_class=ENCOUNTER_CLASS.get(str(code), str(code).lower() if code else None), code=code,
                        provider_ref=ref(parts[0].get("individual")) if parts else None,
                        care_site_ref=ref(res.get("serviceProvider"))))
    elif rtype == "Organization":
        loc = f"organization|{rid}"
        out.append(_rec("care_site", rtype, line, key=rid, name=res.get("name"), location_key=loc))
        out.append(_rec("location", rtype, line, location_key=loc, **_address(res)))
    elif rtype == "Practitioner":
        out.append(_rec("provider", rtype, line, key=rid, gender=GENDER.get(str(res.get("gender")), res.get("gender"))))
    elif rtype == "Condition":
        start, end = _period(res, "onsetDateTime", "onsetPeriod", "recordedDate")
        out.append(_event(rtype, line, key, res, res.get("code"), "Condition", start,
                          res.get("abatementDateTime") if isinstance(res.get("abatementDateTime"), str) else end))
    elif rtype == "Observation":
        start, _ = _period(res, "effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued")
        comps = [c for c in res.get("component", []) if isinstance(c, dict)]
        # A panel (blood pressure) carries its values in components: one fact per component.
        own_value = _value(res) != (None, None, None)
        holders = [(f"{key}#{i}", c) for i, c in enumerate(comps)] if comps and not own_value else [(key, res)]
        for k, h in holders:
            num, text, unit = _value(h)
            out.append(_event(rtype, line, k, res, h.get("code"), "Measurement" if num is not None else "Observation",
                              start, value_number=num, value_string=text, unit=unit))
    elif rtype in ("MedicationRequest", "MedicationAdministration"):
        start, end = _period(res, "authoredOn", "effectiveDateTime", "effectivePeriod")
        qty = ((res.get("dispenseRequest") or {}).get("quantity") or {}).get("value")
        # medicationReference: the code comes from the referenced Medication (resolved in Spark).
        out.append(_event(rtype, line, key, res, res.get("medicationCodeableConcept"), "Drug", start, end,
                          provider_ref=ref(res.get("requester")), name=ref(res.get("medicationReference")),
                          quantity=float(qty) if isinstance(qty, int | float) else None))
    elif rtype == "Procedure":
        start, end = _period(res, "performedPeriod", "performedDateTime")
        out.append(_event(rtype, line, key, res, res.get("code"), "Procedure", start, end))
    elif rtype == "Immunization":
        start, _ = _period(res, "occurrenceDateTime", "recorded")
        out.append(_event(rtype, line, key, res, res.get("vaccineCode"), "Drug", start, quantity=1.0))
    elif rtype == "AllergyIntolerance":
        start, _ = _period(res, "onsetDateTime", "recordedDate")
        out.append(_event(rtype, line, key, res, res.get("code"), "Observation", start))
    elif rtype == "Device":
        # No use period in R4 Device; Synthea records the implant time as manufactureDate.
        # The UDI carrier (serial numbers) is never read.
        out.append(_event(rtype, line, key, res, res.get("type"), "Device", res.get("manufactureDate"), quantity=1.0))
    elif rtype == "SupplyDelivery":
        item = res.get("suppliedItem") or {}
        qty = (item.get("quantity") or {}).get("value")
        start, _ = _period(res, "occurrenceDateTime", "occurrencePeriod")
        out.append(_event(rtype, line, key, res, item.get("itemCodeableConcept"), "Device", start,
                          quantity=float(qty) if isinstance(qty, int | float) else None))
    elif rtype == "ImagingStudy":
        codes = res.get("procedureCode") or []
        out.append(_event(rtype, line, key, res, codes[0] if codes else None, "Procedure", res.get("started")))
    elif rtype == "Medication":
        vocab, code = _coding(res.get("code"))
        out.append(_rec("medication", rtype, line, key=rid, vocabulary_id=vocab, code=code))
        out.append(_rec("filtered", rtype, line, reason=REFERENCED))
    elif rtype in _REFERENCE_ONLY:
        out.append(_rec("filtered", rtype, line, reason=REFERENCED))
    else:
        out.append(_rec("filtered", rtype, line, reason=f"{NO_TARGET} ({rtype})"))
    return out


def _resources(data: bytes) -> Iterator[tuple[int, dict[str, Any], str | None]]:
    """(1-based position, resource, fullUrl) of a Bundle or NDJSON file's resources."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = data.decode("utf-8-sig")
    stripped = text.lstrip()
    doc = None
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
        except json.JSONDecodeError:
            doc = None  # maybe NDJSON: one resource per line
    if isinstance(doc, dict):
        if doc.get("resourceType") == "Bundle":
            for i, entry in enumerate(doc.get("entry", []) or [], start=1):
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                    yield i, entry["resource"], entry.get("fullUrl")
            return
        yield 1, doc, None
        return
    for i, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield i, json.loads(line), None


def parse_file(data: bytes) -> list[dict[str, Any]]:
    """All records of one file; a file that is not FHIR JSON yields one ``reject`` record."""
    out = [_rec("seen", FILE_TABLE, 0)]
    try:
        records = [r for line, res, url in _resources(data) for r in resource_records(res, line, url)]
    except (ValueError, UnicodeDecodeError, OSError, EOFError) as exc:
        # The message names the JSON position or codec problem, never file content.
        out.append(_rec("reject", FILE_TABLE, 0, field=None, reason=f"not FHIR JSON: {type(exc).__name__}"))
        return out
    out.append(_rec("filtered", FILE_TABLE, 0, reason=EXPANDED))
    return out + records
