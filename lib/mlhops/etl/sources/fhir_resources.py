"""FHIR R4 resources -> flat records (pure Python, runs on Spark executors).

:func:`parse_file` turns one file (a Bundle, ``.json``/``.json.gz``, or an NDJSON bulk-export file)
into :data:`RECORD_FIELDS` dicts: per resource type one ``seen`` record counting the file's
resources of that type (conservation; the count is in ``quantity``), and per resource the
records it yields (``person``, ``visit``, ``event``, ``image_series``, ``care_site``,
``provider``, ``location``, ``alias`` for reference resolution, or ``filtered`` with a reason).
Only whitelisted elements are read: names, telecom, street lines, identifiers other than
resource ids and DICOM UIDs, free-text narratives and UDI carriers never leave this module (a
Patient's names, address lines, telecom and identifiers are read only to drop free-text values
of the same file that repeat them; every free-text value is redacted by :mod:`mlhops.etl.redact`).

References are normalised and, where the file itself declares the target, resolved here:
``Type/id`` -> ``id``; ``urn:uuid:...`` (a ``fullUrl``) and conditional
``Type?identifier=system|value`` references -> the id of the resource of this file that
declares them. The others stay aliases (``urn:...``, ``ident:Type|value``) that Spark resolves
(:mod:`mlhops.etl.sources.fhir`) against the ``alias`` records of every file, so references
across bundles resolve too.

Nothing in a file crashes the parser: a file that cannot be read at all (corrupt gzip, not JSON,
nested deeper than the JSON parser allows) is one ``reject`` of ``fhir_files`` (an unusable
file); an entry or NDJSON line that is not a resource (``[]``) is a ``reject`` of
:data:`UNKNOWN_TYPE` at its position; a resource whose elements have unexpected JSON types
(``identifier: 5``) is a ``reject`` of its type naming the element. Every resource has exactly
one outcome (a panel with a component coded by text only is quarantined whole), so the loader's
conservation accounting holds whatever the input.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlhops.etl.events import ALLERGY
from mlhops.etl.redact import own_tokens, redact_text

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
# Source table of entries and lines that are not resources of a known type name.
UNKNOWN_TYPE = "Unknown"
# The resource types of FHIR R4 (4.0.1): the only type names that become source table names.
R4_RESOURCE_TYPES = frozenset("""
Account ActivityDefinition AdverseEvent AllergyIntolerance Appointment AppointmentResponse AuditEvent Basic Binary
BiologicallyDerivedProduct BodyStructure Bundle CapabilityStatement CarePlan CareTeam CatalogEntry ChargeItem
ChargeItemDefinition Claim ClaimResponse ClinicalImpression CodeSystem Communication CommunicationRequest
CompartmentDefinition Composition ConceptMap Condition Consent Contract Coverage CoverageEligibilityRequest
CoverageEligibilityResponse DetectedIssue Device DeviceDefinition DeviceMetric DeviceRequest DeviceUseStatement
DiagnosticReport DocumentManifest DocumentReference EffectEvidenceSynthesis Encounter Endpoint EnrollmentRequest
EnrollmentResponse EpisodeOfCare EventDefinition Evidence EvidenceVariable ExampleScenario ExplanationOfBenefit
FamilyMemberHistory Flag Goal GraphDefinition Group GuidanceResponse HealthcareService ImagingStudy Immunization
ImmunizationEvaluation ImmunizationRecommendation ImplementationGuide InsurancePlan Invoice Library Linkage List
Location Measure MeasureReport Media Medication MedicationAdministration MedicationDispense MedicationKnowledge
MedicationRequest MedicationStatement MedicinalProduct MedicinalProductAuthorization MedicinalProductContraindication
MedicinalProductIndication MedicinalProductIngredient MedicinalProductInteraction MedicinalProductManufactured
MedicinalProductPackaged MedicinalProductPharmaceutical MedicinalProductUndesirableEffect MessageDefinition
MessageHeader MolecularSequence NamingSystem NutritionOrder Observation ObservationDefinition OperationDefinition
OperationOutcome Organization OrganizationAffiliation Parameters Patient PaymentNotice PaymentReconciliation Person
PlanDefinition Practitioner PractitionerRole Procedure Provenance Questionnaire QuestionnaireResponse
RelatedPerson RequestGroup ResearchDefinition ResearchElementDefinition ResearchStudy ResearchSubject RiskAssessment
RiskEvidenceSynthesis Schedule SearchParameter ServiceRequest Slot Specimen SpecimenDefinition StructureDefinition
StructureMap Subscription Substance SubstanceNucleicAcid SubstancePolymer SubstanceProtein
SubstanceReferenceInformation SubstanceSourceMaterial SubstanceSpecification SupplyDelivery SupplyRequest Task
TerminologyCapabilities TestReport TestScript ValueSet VerificationResult VisionPrescription
""".split())
# FHIR resource type names (R4 has none longer than 40 characters).
_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{0,63}")
UNUSABLE = "unusable file"
UNCODED_COMPONENT = "panel component without a code (coded by text only)"
NOT_A_RESOURCE = "not a FHIR resource (a JSON object with a resourceType)"
MALFORMED = "malformed resource"
# Errors of a resource's data shape: the resource is quarantined, the file goes on.
_SHAPE_ERRORS = (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError)


def _number(value: Any) -> float | None:
    """A JSON number as a float (booleans are not numbers); anything else -> None."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _scalar(name: str, value: Any) -> Any:
    """A record value in its column's type: a JSON number (or numeric text) for the numeric
    fields, text for the others; a value of another JSON type (an object where a string belongs)
    becomes None, so the record is rejected by the check of that field instead of failing the
    Arrow conversion of its whole partition."""
    if value is None:
        return None
    if name in NUMERIC_FIELDS:
        return _number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, int | float) else None


def _rec(kind: str, table: str, line: int, **values: Any) -> dict[str, Any]:
    rec: dict[str, Any] = dict.fromkeys(RECORD_FIELDS)
    rec.update({k: _scalar(k, v) for k, v in values.items()})
    rec.update(kind=kind, source_table=table, source_line=line)
    return rec


class ShapeError(ValueError):
    """An element the ETL reads has the wrong JSON type (``identifier: 5``).

    Attributes:
        element: the element's path within its resource (``component[1].code``), never a value.
    """

    def __init__(self, element: str, expected: str) -> None:
        super().__init__(f"{element}: expected a JSON {expected}")
        self.element = element
        self.expected = expected


def _obj(holder: dict[str, Any], name: str) -> dict[str, Any]:
    """Element ``name`` of ``holder`` as an object; absent or null -> ``{}``.

    Raises:
        ShapeError: present but not an object.
    """
    value = holder.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ShapeError(name, "object")
    return value


def _arr(holder: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Element ``name`` of ``holder`` as a list of objects; absent or null -> ``[]``.

    Raises:
        ShapeError: present but not an array, or an item that is not an object.
    """
    value = holder.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ShapeError(name, "array")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ShapeError(f"{name}[{i}]", "object")
    return value


def resource_type(res: dict[str, Any]) -> str:
    """The resource's type as a source table name: a FHIR R4 resource type name
    (:data:`R4_RESOURCE_TYPES`), else :data:`UNKNOWN_TYPE`. Input text never becomes a table
    name, a run-record key or a metric name as it is: a planted ``"resourceType": "JaneDoe"``
    reads as ``Unknown``."""
    value = res.get("resourceType")
    return value if isinstance(value, str) and _TYPE_NAME.fullmatch(value) and value in R4_RESOURCE_TYPES \
        else UNKNOWN_TYPE


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
        out += [f"ident:{rtype}|{i['value']}" for i in _arr(res, "identifier") if isinstance(i.get("value"), str) and i["value"]]
    return out


def _coding(concept: Any) -> tuple[str | None, str | None]:
    """(vocabulary_id, code) of the first coding of a known system, else of the first coding."""
    if not isinstance(concept, dict):
        return None, None
    codings = [c for c in _arr(concept, "coding") if isinstance(c.get("code"), str | int) and c.get("code") != ""]
    for c in codings:
        if isinstance(c.get("system"), str) and c["system"] in SYSTEM_VOCABULARY:
            return SYSTEM_VOCABULARY[c["system"]], str(c["code"])
    if codings:
        return str(codings[0].get("system") or "None"), str(codings[0]["code"])
    return None, None


def _value(holder: dict[str, Any]) -> tuple[float | None, str | None, str | None]:
    """(number, text, unit) of an element's value[x], for every value type R4 allows."""
    if "valueQuantity" in holder:
        q = _obj(holder, "valueQuantity")
        return _number(q.get("value")), None, q.get("code") or q.get("unit")
    for key in ("valueInteger", "valueDecimal"):
        if key in holder and _number(holder[key]) is not None:
            return _number(holder[key]), None, None
    if "valueCodeableConcept" in holder:
        cc = _obj(holder, "valueCodeableConcept")
        text = cc.get("text") or next((c.get("display") or c.get("code") for c in _arr(cc, "coding")), None)
        return None, text, None
    if "valueBoolean" in holder:
        return None, str(bool(holder["valueBoolean"])).lower(), None
    if "valueRange" in holder:
        # valueRange.low may be absent or null (an open range): no number then.
        return _number(_obj(_obj(holder, "valueRange"), "low").get("value")), None, None
    if "valueRatio" in holder:
        r = _obj(holder, "valueRatio")
        n, d = _number(_obj(r, "numerator").get("value")), _number(_obj(r, "denominator").get("value"))
        return (n / d if n is not None and d else None), None, None
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
    for ident in _arr(res, "identifier"):
        if ident.get("system") in DICOM_UID_SYSTEMS and isinstance(ident.get("value"), str):
            value = ident["value"]
            return value[len(OID_PREFIX):] if value.startswith(OID_PREFIX) else value
    return None


def _imaging_study(line: int, key: str, res: dict[str, Any], local: dict[str, str]) -> list[dict[str, Any]]:
    """The study's imaging procedure event and one ``image_series`` record per series.

    A series without its (required, R4 1..1) UID cannot become an image_occurrence: the whole
    resource is rejected rather than loaded in part.
    """
    rtype = "ImagingStudy"
    series = _arr(res, "series")
    if any(not isinstance(s.get("uid"), str) or not s["uid"] for s in series):
        return [_rec("reject", rtype, line, field="series.uid", reason="missing required value")]
    codes = _arr(res, "procedureCode")
    out = [_event(rtype, line, key, res, codes[0] if codes else None, "Procedure", res.get("started"), local=local)]
    # The study UID, else the resource id: either only ever appears salted-hashed.
    uid = study_uid(res) or key
    person = ref(res.get("subject"), local)
    for s in series:
        modality, site = _obj(s, "modality"), _obj(s, "bodySite")
        out.append(_rec(
            "image_series", rtype, line, key=str(s["uid"]), name=key, person_ref=person,
            start=s.get("started") or res.get("started"), code=modality.get("code"), study_uid=uid,
            body_site=site.get("code") if site.get("system") in (None, "http://snomed.info/sct") else None,
        ))
    return out


def _ext(res: dict[str, Any], url: str) -> dict[str, Any]:
    return next((e for e in _arr(res, "extension") if e.get("url") == url), {})


def _address(res: dict[str, Any]) -> dict[str, Any]:
    value = res.get("address")
    # Patient.address is an array, Organization.address too; a lone object is read as well.
    addrs = [_obj(res, "address")] if isinstance(value, dict) else _arr(res, "address")
    addr = addrs[0] if addrs else {}
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
    return next((_obj(e, "valueCoding").get("code") for e in _arr(ext, "extension") if e.get("url") == "ombCategory"), None)


def _gender(res: dict[str, Any]) -> Any:
    gender = res.get("gender")
    return GENDER.get(gender, gender) if isinstance(gender, str) else None


def _patient(r: _Resource) -> list[dict[str, Any]]:
    race = _ext(r.res, RACE_EXT)
    race_text = next((e.get("valueString") for e in _arr(race, "extension") if e.get("url") == "text"), None)
    eth_code = _omb_code(_ext(r.res, ETHNICITY_EXT))
    addr = _address(r.res)
    loc = "|".join(["residence", addr["city"] or "", addr["state"] or "", "", addr["zip"] or ""]) if any(addr.values()) else None
    out = [r.rec("person", key=r.rid, start=r.res.get("birthDate"), end=r.res.get("deceasedDateTime"),
                 gender=_gender(r.res), race=RACE.get(str(_omb_code(race) or "")) or (race_text.lower() if isinstance(race_text, str) else None),
                 ethnicity=ETHNICITY.get(str(eth_code or ""), eth_code), location_key=loc)]
    if loc:
        out.append(r.rec("location", location_key=loc, **addr))
    return out


def _encounter(r: _Resource) -> list[dict[str, Any]]:
    start, end = _period(r.res, "period")
    code = _obj(r.res, "class").get("code")
    code = code if isinstance(code, str) else None
    parts = _arr(r.res, "participant")
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
    comps = _arr(r.res, "component")
    # A panel (blood pressure) carries its values in components: one fact per component.
    own_value = _value(r.res) != (None, None, None)
    holders = [(f"{r.key}#{i}", c) for i, c in enumerate(comps)] if comps and not own_value else [(r.key, r.res)]
    if len(holders) > 1:
        # A component coded by text only cannot be mapped: the panel is quarantined whole
        # (one outcome per resource), never loaded in part.
        uncoded = next((i for i, (_, c) in enumerate(holders) if _coding(c.get("code"))[1] is None), None)
        if uncoded is not None:
            return [r.rec("reject", field=f"component[{uncoded}].code", reason=UNCODED_COMPONENT)]
    out = []
    for k, h in holders:
        num, text, unit = _value(h)
        out.append(r.event(h.get("code"), "Measurement" if num is not None else "Observation", start, key=k,
                           value_number=num, value_string=text, unit=unit))
    return out


def _medication_use(r: _Resource) -> list[dict[str, Any]]:
    start, end = _period(r.res, "authoredOn", "effectiveDateTime", "effectivePeriod")
    qty = _obj(_obj(r.res, "dispenseRequest"), "quantity").get("value")
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
    return [r.event(r.res.get("code"), ALLERGY, start)]


def _device(r: _Resource) -> list[dict[str, Any]]:
    # No use period in R4 Device; Synthea records the implant time as manufactureDate.
    # The UDI carrier (serial numbers) is never read.
    return [r.event(r.res.get("type"), "Device", r.res.get("manufactureDate"), quantity=1.0)]


def _supply_delivery(r: _Resource) -> list[dict[str, Any]]:
    item = _obj(r.res, "suppliedItem")
    qty = _obj(item, "quantity").get("value")
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


def _resource_records(res: dict[str, Any], line: int, full_url: str | None,
                      local: dict[str, str]) -> list[dict[str, Any]]:
    rtype = resource_type(res)
    rid = res.get("id")
    if rid is None or rid == "":
        return [_rec("reject", rtype, line, field="id", reason="resource without id")]
    if not isinstance(rid, str):
        return [_rec("reject", rtype, line, field="id", reason="malformed id: expected a JSON string")]
    r = _Resource(res, rtype, rid, line, local)
    out = [r.rec("alias", key=r.rid, name=name) for name in aliases(rtype, r.rid, res, full_url)]
    handler = _HANDLERS.get(rtype)
    if handler is not None:
        return out + handler(r)
    if rtype in _REFERENCE_ONLY:
        return out + [r.rec("filtered", reason=REFERENCED)]
    return out + [r.rec("filtered", reason=f"{NO_TARGET} ({rtype})")]


def resource_records(res: dict[str, Any], line: int, full_url: str | None,
                     local: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Records of one resource (``seen`` counts are added per file by :func:`parse_file`).

    A resource whose elements have shapes the parser cannot read (``identifier: 5``) yields one
    ``reject`` record naming the element (or only the error type) instead of its records: one
    outcome per resource, and the rest of its file goes on.

    Args:
        res: the resource.
        line: its 1-based position in the Bundle (line in NDJSON).
        full_url: its Bundle ``fullUrl``.
        local: aliases declared by the resource's file (see :func:`aliases`) -> resource id.
    """
    try:
        return _resource_records(res, line, full_url, local or {})
    except ShapeError as exc:
        return [_rec("reject", resource_type(res), line, field=exc.element, reason=f"{MALFORMED}: expected a JSON {exc.expected}")]
    except _SHAPE_ERRORS as exc:
        # The error type only: messages may quote values.
        return [_rec("reject", resource_type(res), line, field=None, reason=f"{MALFORMED} ({type(exc).__name__})")]


@dataclass(frozen=True)
class Entry:
    """One entry of a file: a Bundle entry, an element of a JSON array, or an NDJSON line.

    ``resource`` is None when the entry is not a resource; ``problem`` then says why.
    """

    position: int  # 1-based: entry index in the Bundle or array, line in NDJSON
    resource: dict[str, Any] | None
    full_url: str | None = None
    problem: str | None = None


class UnusableFile(ValueError):
    """The file as a whole cannot be read as FHIR JSON (the reason names no content)."""


def _entry(position: int, value: Any, full_url: Any = None) -> Entry:
    if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
        return Entry(position, value, full_url if isinstance(full_url, str) else None)
    return Entry(position, None, problem=NOT_A_RESOURCE)


def _document_entries(doc: Any) -> list[Entry]:
    """Entries of a whole-file JSON document: a Bundle, one resource, or an array of resources."""
    if isinstance(doc, list):
        return [_entry(i, v) for i, v in enumerate(doc, start=1)]
    if not isinstance(doc, dict):
        raise UnusableFile("not FHIR JSON (a JSON value that is neither an object nor an array)")
    if doc.get("resourceType") != "Bundle":
        return [_entry(1, doc)]
    entries = doc.get("entry")
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise UnusableFile("Bundle.entry is not an array")
    out = []
    for i, e in enumerate(entries, start=1):
        out.append(_entry(i, e.get("resource"), e.get("fullUrl")) if isinstance(e, dict) else _entry(i, None))
    return out


def _ndjson_entries(text: str) -> list[Entry]:
    """One entry per non-blank line; a line that is not a JSON object is a bad entry, not a bad file."""
    out = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(_entry(i, json.loads(line)))
        except (ValueError, RecursionError) as exc:
            out.append(Entry(i, None, problem=f"not JSON ({type(exc).__name__})"))
    return out


def _text(data: bytes) -> str:
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise UnusableFile(f"corrupt gzip ({type(exc).__name__})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnusableFile("not UTF-8 text") from None


def entries(data: bytes, ndjson: bool = False) -> list[Entry]:
    """The entries of a Bundle, a single resource, a JSON array of resources or an NDJSON file.

    NDJSON is read line by line when ``ndjson`` (the file is named ``.ndjson``) or when the file
    is not one JSON document but its first line is a JSON value by itself.

    Raises:
        UnusableFile: the file cannot be read at all (corrupt gzip, not UTF-8, not JSON, nested
            deeper than the JSON parser allows).
    """
    text = _text(data)
    if ndjson:
        return _ndjson_entries(text)
    try:
        doc = json.loads(text)
    except RecursionError:
        raise UnusableFile("JSON nested deeper than the parser allows") from None
    except ValueError as exc:
        # NDJSON under a .json name: its first line is a JSON value by itself (a pretty-printed
        # document's first line, ``{`` or ``[``, is not).
        first = next((line for line in text.splitlines() if line.strip()), "")
        try:
            json.loads(first)
        except (ValueError, RecursionError):
            raise UnusableFile(f"not FHIR JSON ({type(exc).__name__})") from None
        return _ndjson_entries(text)
    return _document_entries(doc)


def _local_aliases(found: list[Entry]) -> dict[str, str]:
    local: dict[str, str] = {}
    for e in found:
        res = e.resource
        if res is None or not isinstance(res.get("id"), str) or not res["id"]:
            continue
        try:
            names = aliases(resource_type(res), res["id"], res, e.full_url)
        except ShapeError:
            continue  # the resource itself is quarantined by resource_records
        for name in names:
            local.setdefault(name, res["id"])
    return local


def parse_file(data: bytes, ndjson: bool = False) -> list[dict[str, Any]]:
    """All records of one file.

    ``seen`` records count the file (``fhir_files``) and its entries per resource type
    (``quantity``); entries that are not resources count as :data:`UNKNOWN_TYPE` and are
    rejected with their position. A file that cannot be read at all yields one ``reject`` record
    of ``fhir_files`` (an unusable file; its reason names the problem, never content).

    Args:
        data: the file's bytes (gzip or not).
        ndjson: the file is named as NDJSON (read line by line).
    """
    out = [_rec("seen", FILE_TABLE, 0, quantity=1.0)]
    try:
        found = entries(data, ndjson)
    except UnusableFile as exc:
        out.append(_rec("reject", FILE_TABLE, 0, field=None, reason=f"{UNUSABLE}: {exc}"))
        return out
    local = _local_aliases(found)
    counts: dict[str, int] = {}
    records: list[dict[str, Any]] = []
    for e in found:
        if e.resource is None:
            counts[UNKNOWN_TYPE] = counts.get(UNKNOWN_TYPE, 0) + 1
            records.append(_rec("reject", UNKNOWN_TYPE, e.position, field=None, reason=e.problem or NOT_A_RESOURCE))
            continue
        rtype = resource_type(e.resource)
        counts[rtype] = counts.get(rtype, 0) + 1
        records += resource_records(e.resource, e.position, e.full_url, local)
    out.append(_rec("filtered", FILE_TABLE, 0, reason=EXPANDED))
    out += [_rec("seen", rtype, 0, quantity=float(n)) for rtype, n in sorted(counts.items())]
    patients = [_patient_identifiers(e.resource) for e in found if e.resource is not None]
    own = own_tokens([w for words, _ in patients for w in words], [v for _, whole in patients for v in whole])
    return out + _redacted(records, own)


def _patient_identifiers(res: dict[str, Any]) -> tuple[list[str], list[str]]:
    """A Patient's (names and address lines, telecom and identifier values); nothing for other
    types. Read only to redact free text of the same file, never emitted."""
    if res.get("resourceType") != "Patient":
        return [], []
    words: list[Any] = []
    whole: list[Any] = []
    try:
        for n in _arr(res, "name"):
            words += [n.get("text"), n.get("family"), *(n.get("given") or [])]
        for a in _arr(res, "address"):
            words += [a.get("text"), *(a.get("line") or [])]
        whole += [t.get("value") for t in _arr(res, "telecom")] + [i.get("value") for i in _arr(res, "identifier")]
    except _SHAPE_ERRORS:
        return [], []  # the Patient is quarantined for its shape; the patterns still redact
    return [v for v in words if isinstance(v, str)], [v for v in whole if isinstance(v, str)]


def _redacted(records: list[dict[str, Any]], own: list[str]) -> list[dict[str, Any]]:
    """Free text of the records with identifier patterns redacted and values holding a token of a
    patient of the file (``own``) dropped (:func:`mlhops.etl.redact.redact_text`)."""
    for rec in records:
        if isinstance(rec.get("value_string"), str):
            rec["value_string"] = redact_text(rec["value_string"], own)
    return records
