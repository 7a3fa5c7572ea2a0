"""FHIR R4 resources -> flat records (pure Python, runs on Spark executors).

:func:`parse_file` turns one file (a Bundle, ``.json``/``.json.gz``, or an NDJSON bulk-export file)
into :data:`RECORD_FIELDS` dicts: per resource type one ``seen`` record counting the file's
resources of that type (conservation; the count is in ``quantity``), and per resource the
records it yields (``person``, ``visit``, ``event``, ``image_series``, ``care_site``,
``provider``, ``location``, ``alias`` for reference resolution, or ``filtered`` with a reason).
Only whitelisted elements are read: names, telecom, street lines, identifiers other than
resource ids and DICOM UIDs, free-text narratives and UDI carriers never leave this module.

References are normalised and, where the file itself declares the target, resolved here:
``Type/id`` -> ``id``; ``urn:uuid:...`` (a ``fullUrl``) and conditional
``Type?identifier=system|value`` references -> the id of the resource of this file that
declares them. The others stay aliases (``urn:...``, ``ident:Type|value``) that Spark resolves
(:mod:`mlhops.etl.sources.fhir`) against the ``alias`` records of every file, so references
across bundles resolve too.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

KINDS = ("seen", "person", "visit", "event", "image_series", "care_site", "provider", "location", "alias", "medication",
         "filtered", "reject")

# Every record has these keys (strings unless noted); absent values are None.
RECORD_FIELDS: tuple[str, ...] = (
    "kind", "source_table", "source_line",  # source_line: int
    "key", "person_ref", "visit_ref", "provider_ref", "care_site_ref", "location_key",
    "start", "end", "vocabulary_id", "code", "default_domain",
    "value_number", "quantity",  # float
    "value_string", "unit", "gender", "race", "ethnicity", "city", "state", "zip", "name",
    "visit_class", "reason", "field",
    "study_uid", "body_site",  # image_series only (key: series UID, name: the study's event key, code: modality)
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
# OMB race and ethnicity codes (CDC Race & Ethnicity, urn:oid:2.16.840.1.113883.6.238) ->
# etl.standard_concepts.race / .ethnicity keys (the values Synthea's CSV export writes).
RACE = {"1002-5": "native", "2028-9": "asian", "2054-5": "black", "2076-8": "hawaiian", "2106-3": "white",
        "2131-1": "other"}
ETHNICITY = {"2135-2": "hispanic", "2186-5": "nonhispanic"}
RACE_EXT = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
ETHNICITY_EXT = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
ZIP_DIGITS = 3
# DICOM UIDs in FHIR identifiers: system urn:dicom:uid (R4) or urn:ietf:rfc:3986, value urn:oid:<uid>.
DICOM_UID_SYSTEMS = {"urn:dicom:uid", "urn:ietf:rfc:3986"}
OID_PREFIX = "urn:oid:"
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


def ref(value: Any, local: dict[str, str] | None = None) -> str | None:
    """Normalised reference: ``Type/id`` -> ``id``; ``urn:`` and conditional references -> the id
    that ``local`` (the aliases declared by the same file) gives them, else the alias itself."""
    if not isinstance(value, dict):
        return None
    r = value.get("reference")
    if not isinstance(r, str) or not r:
        return None
    if r.startswith("urn:") or "?" in r:
        if "?identifier=" in r:
            rtype, _, ident = r.partition("?identifier=")
            r = f"ident:{rtype}|{ident.rsplit('|', 1)[-1]}"
        return (local or {}).get(r, r)
    return r.rsplit("/", 1)[-1]


def _identifier_types(rtype: str) -> bool:
    return rtype in {"Organization", "Practitioner", "Location"}


def aliases(rtype: str, rid: str, res: dict[str, Any], full_url: str | None) -> list[str]:
    """The alias names under which other resources may reference this one (``urn:`` fullUrls,
    ``ident:Type|value`` for identifiers of the types conditional references target)."""
    out = [full_url] if isinstance(full_url, str) and full_url.startswith("urn:") else []
    if _identifier_types(rtype):
        out += [f"ident:{rtype}|{i['value']}" for i in res.get("identifier", []) if isinstance(i, dict) and i.get("value")]
    return out


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
           start: str | None, end: str | None = None, *, local: dict[str, str], **values: Any) -> dict[str, Any]:
    vocab, code = _coding(concept)
    person = ref(res.get("subject"), local) or ref(res.get("patient"), local)
    visit = ref(res.get("encounter"), local) or ref(res.get("context"), local)
    return _rec("event", table, line, key=key, person_ref=person, visit_ref=visit, start=start, end=end,
                vocabulary_id=vocab, code=code, default_domain=domain, **values)


def study_uid(res: dict[str, Any]) -> str | None:
    """The DICOM Study Instance UID among an ImagingStudy's identifiers, else None."""
    for ident in res.get("identifier", []):
        if isinstance(ident, dict) and ident.get("system") in DICOM_UID_SYSTEMS and isinstance(ident.get("value"), str):
            value = ident["value"]
            return value[len(OID_PREFIX):] if value.startswith(OID_PREFIX) else value
    return None


def _imaging_study(line: int, key: str, res: dict[str, Any], local: dict[str, str]) -> list[dict[str, Any]]:
    """The study's imaging procedure event and one ``image_series`` record per series.

    A series without its (required, R4 1..1) UID cannot become an image_occurrence: the whole
    resource is rejected rather than loaded in part.
    """
    rtype = "ImagingStudy"
    series = [s for s in res.get("series", []) if isinstance(s, dict)]
    if any(not s.get("uid") for s in series):
        return [_rec("reject", rtype, line, field="series.uid", reason="missing required value")]
    codes = res.get("procedureCode") or []
    out = [_event(rtype, line, key, res, codes[0] if codes else None, "Procedure", res.get("started"), local=local)]
    # The study UID, else the resource id: either only ever appears salted-hashed.
    uid = study_uid(res) or key
    person = ref(res.get("subject"), local)
    for s in series:
        modality = s.get("modality") if isinstance(s.get("modality"), dict) else {}
        site = s.get("bodySite") if isinstance(s.get("bodySite"), dict) else {}
        out.append(_rec(
            "image_series", rtype, line, key=str(s["uid"]), name=key, person_ref=person,
            start=s.get("started") or res.get("started"), code=modality.get("code"), study_uid=uid,
            body_site=site.get("code") if site.get("system") in (None, "http://snomed.info/sct") else None,
        ))
    return out


def _ext(res: dict[str, Any], url: str) -> dict[str, Any]:
    return next((e for e in res.get("extension", []) if isinstance(e, dict) and e.get("url") == url), {})


def _address(res: dict[str, Any]) -> dict[str, Any]:
    addr = res.get("address")
    addr = addr[0] if isinstance(addr, list) and addr else (addr if isinstance(addr, dict) else {})
    digits = "".join(ch for ch in str(addr.get("postalCode") or "") if ch.isdigit())
    return {"city": addr.get("city"), "state": addr.get("state"), "zip": digits[:ZIP_DIGITS] or None}


@dataclass(frozen=True)
class _Resource:
    """One resource being turned into records: where it is and how its file names others."""

    res: dict[str, Any]
    rtype: str
    rid: str
    line: int
    local: dict[str, str]

    @property
    def key(self) -> str:
        """Event key of the resource's facts."""
        return f"{self.rtype}/{self.rid}"

    def rec(self, kind: str, **values: Any) -> dict[str, Any]:
        return _rec(kind, self.rtype, self.line, **values)

    def event(self, concept: Any, domain: str, start: str | None, end: str | None = None, *,
              key: str | None = None, **values: Any) -> dict[str, Any]:
        return _event(self.rtype, self.line, key or self.key, self.res, concept, domain, start, end,
                      local=self.local, **values)

    def ref(self, element: str) -> str | None:
        return ref(self.res.get(element), self.local)


def _omb_code(ext: dict[str, Any]) -> str | None:
    """The ``ombCategory`` code of a US Core race/ethnicity extension."""
    return next((e.get("valueCoding", {}).get("code") for e in ext.get("extension", []) if e.get("url") == "ombCategory"), None)


def _gender(res: dict[str, Any]) -> Any:
    return GENDER.get(str(res.get("gender")), res.get("gender"))


def _patient(r: _Resource) -> list[dict[str, Any]]:
    race = _ext(r.res, RACE_EXT)
    race_text = next((e.get("valueString") for e in race.get("extension", []) if e.get("url") == "text"), None)
    eth_code = _omb_code(_ext(r.res, ETHNICITY_EXT))
    addr = _address(r.res)
    loc = "|".join(["residence", addr["city"] or "", addr["state"] or "", "", addr["zip"] or ""]) if any(addr.values()) else None
    out = [r.rec("person", key=r.rid, start=r.res.get("birthDate"), end=r.res.get("deceasedDateTime"),
                 gender=_gender(r.res), race=RACE.get(_omb_code(race) or "") or (race_text.lower() if race_text else None),
                 ethnicity=ETHNICITY.get(eth_code or "", eth_code), location_key=loc)]
    if loc:
        out.append(r.rec("location", location_key=loc, **addr))
    return out


def _encounter(r: _Resource) -> list[dict[str, Any]]:
    start, end = _period(r.res, "period")
    cls = r.res.get("class") or {}
    code = cls.get("code") if isinstance(cls, dict) else None
    parts = [p for p in r.res.get("participant", []) if isinstance(p, dict)]
    return [r.rec("visit", key=r.rid, person_ref=r.ref("subject"), start=start, end=end,
                  visit_class=ENCOUNTER_CLASS.get(str(code), str(code).lower() if code else None), code=code,
                  provider_ref=ref(parts[0].get("individual"), r.local) if parts else None,
                  care_site_ref=r.ref("serviceProvider"))]


def _organization(r: _Resource) -> list[dict[str, Any]]:
    loc = f"organization|{r.rid}"
    return [r.rec("care_site", key=r.rid, name=r.res.get("name"), location_key=loc),
            r.rec("location", location_key=loc, **_address(r.res))]


def _practitioner(r: _Resource) -> list[dict[str, Any]]:
    return [r.rec("provider", key=r.rid, gender=_gender(r.res))]


def _condition(r: _Resource) -> list[dict[str, Any]]:
    start, end = _period(r.res, "onsetDateTime", "onsetPeriod", "recordedDate")
    abated = r.res.get("abatementDateTime")
    return [r.event(r.res.get("code"), "Condition", start, abated if isinstance(abated, str) else end)]


def _observation(r: _Resource) -> list[dict[str, Any]]:
    start, _ = _period(r.res, "effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued")
    comps = [c for c in r.res.get("component", []) if isinstance(c, dict)]
    # A panel (blood pressure) carries its values in components: one fact per component.
    own_value = _value(r.res) != (None, None, None)
    holders = [(f"{r.key}#{i}", c) for i, c in enumerate(comps)] if comps and not own_value else [(r.key, r.res)]
    out = []
    for k, h in holders:
        num, text, unit = _value(h)
        out.append(r.event(h.get("code"), "Measurement" if num is not None else "Observation", start, key=k,
                           value_number=num, value_string=text, unit=unit))
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _medication_use(r: _Resource) -> list[dict[str, Any]]:
    start, end = _period(r.res, "authoredOn", "effectiveDateTime", "effectivePeriod")
    qty = ((r.res.get("dispenseRequest") or {}).get("quantity") or {}).get("value")
    # medicationReference: the code comes from the referenced Medication (resolved in Spark).
    return [r.event(r.res.get("medicationCodeableConcept"), "Drug", start, end, provider_ref=r.ref("requester"),
                    name=r.ref("medicationReference"), quantity=_number(qty))]


def _procedure(r: _Resource) -> list[dict[str, Any]]:
    start, end = _period(r.res, "performedPeriod", "performedDateTime")
    return [r.event(r.res.get("code"), "Procedure", start, end)]


def _immunization(r: _Resource) -> list[dict[str, Any]]:
    start, _ = _period(r.res, "occurrenceDateTime", "recorded")
    return [r.event(r.res.get("vaccineCode"), "Drug", start, quantity=1.0)]


def _allergy(r: _Resource) -> list[dict[str, Any]]:
    start, _ = _period(r.res, "onsetDateTime", "recordedDate")
    return [r.event(r.res.get("code"), "Observation", start)]


def _device(r: _Resource) -> list[dict[str, Any]]:
    # No use period in R4 Device; Synthea records the implant time as manufactureDate.
    # The UDI carrier (serial numbers) is never read.
    return [r.event(r.res.get("type"), "Device", r.res.get("manufactureDate"), quantity=1.0)]


def _supply_delivery(r: _Resource) -> list[dict[str, Any]]:
    item = r.res.get("suppliedItem") or {}
    qty = (item.get("quantity") or {}).get("value")
    start, _ = _period(r.res, "occurrenceDateTime", "occurrencePeriod")
    return [r.event(item.get("itemCodeableConcept"), "Device", start, quantity=_number(qty))]


def _imaging(r: _Resource) -> list[dict[str, Any]]:
    return _imaging_study(r.line, r.key, r.res, r.local)


def _medication(r: _Resource) -> list[dict[str, Any]]:
    vocab, code = _coding(r.res.get("code"))
    return [r.rec("medication", key=r.rid, vocabulary_id=vocab, code=code), r.rec("filtered", reason=REFERENCED)]


# Resource type -> its records (types not listed: reference-only or without OMOP target).
_HANDLERS: dict[str, Callable[[_Resource], list[dict[str, Any]]]] = {
    "Patient": _patient, "Encounter": _encounter, "Organization": _organization, "Practitioner": _practitioner,
    "Condition": _condition, "Observation": _observation, "MedicationRequest": _medication_use,
    "MedicationAdministration": _medication_use, "Procedure": _procedure, "Immunization": _immunization,
    "AllergyIntolerance": _allergy, "Device": _device, "SupplyDelivery": _supply_delivery,
    "ImagingStudy": _imaging, "Medication": _medication,
}


def resource_records(res: dict[str, Any], line: int, full_url: str | None,
                     local: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Records of one resource (``seen`` counts are added per file by :func:`parse_file`).

    Args:
        res: the resource.
        line: its 1-based position in the Bundle (line in NDJSON).
        full_url: its Bundle ``fullUrl``.
        local: aliases declared by the resource's file (see :func:`aliases`) -> resource id.
    """
    rtype = str(res.get("resourceType") or "Unknown")
    rid = res.get("id")
    if not rid:
        return [_rec("reject", rtype, line, field="id", reason="resource without id")]
    r = _Resource(res, rtype, str(rid), line, local or {})
    out = [r.rec("alias", key=r.rid, name=name) for name in aliases(rtype, r.rid, res, full_url)]
    handler = _HANDLERS.get(rtype)
    if handler is not None:
        return out + handler(r)
    if rtype in _REFERENCE_ONLY:
        return out + [r.rec("filtered", reason=REFERENCED)]
    return out + [r.rec("filtered", reason=f"{NO_TARGET} ({rtype})")]


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
    """All records of one file; a file that is not FHIR JSON yields one ``reject`` record.

    ``seen`` records count the file (``fhir_files``) and its resources per type (``quantity``).
    """
    out = [_rec("seen", FILE_TABLE, 0, quantity=1.0)]
    try:
        resources = list(_resources(data))
    except (ValueError, UnicodeDecodeError, OSError, EOFError) as exc:
        # The message names the JSON position or codec problem, never file content.
        out.append(_rec("reject", FILE_TABLE, 0, field=None, reason=f"not FHIR JSON: {type(exc).__name__}"))
        return out
    local: dict[str, str] = {}
    counts: dict[str, int] = {}
    for _, res, url in resources:
        rtype = str(res.get("resourceType") or "Unknown")
        counts[rtype] = counts.get(rtype, 0) + 1
        if res.get("id"):
            for name in aliases(rtype, str(res["id"]), res, url):
                local.setdefault(name, str(res["id"]))
    out.append(_rec("filtered", FILE_TABLE, 0, reason=EXPANDED))
    out += [_rec("seen", rtype, 0, quantity=float(n)) for rtype, n in sorted(counts.items())]
    return out + [r for line, res, url in resources for r in resource_records(res, line, url, local)]
