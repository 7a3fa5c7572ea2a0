"""Loader step 5: the OMOP rows of every table, from the checked, shifted and mapped frames with
their ids attached (:mod:`mlhops.etl.omop_rows` shapes each table)."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mlhops.etl import omop_rows
from mlhops.etl.deid import Deidentifier
from mlhops.etl.mapping import route
from mlhops.etl.steps.ids import BatchIds, payer_period_key
from mlhops.etl.steps.references import Entities
from mlhops.etl.steps.safe_harbor import generalise_location, generalise_person, latest_date
from mlhops.omop.conform import conform

# Type concepts used unless etl.standard_concepts.type overrides them.
TYPE_DEFAULTS = {"ehr": 32817, "ehr_encounter": 32827, "payer_enrollment": 32880, "death_ehr": 32817,
                 "era": 32817, "obs_period_ehr": 32817, "claim": 32810}

Tables = list[tuple[str, DataFrame]]


def _organisations(e: Entities, ids: BatchIds, deid: Deidentifier, gender: dict[str, int]) -> Tables:
    loc = ids.attach(e.locations, "location", "location_key", "location_id")
    cs = ids.attach(ids.attach(e.care_sites, "care_site", "care_site_key", "care_site_id"),
                    "location", "location_key", "location_id")
    cs = cs.withColumn("care_site_pseudonym", deid.pseudonym("care_site", F.col("care_site_key")))
    pr = ids.attach(ids.attach(e.providers, "provider", "provider_key", "provider_id"),
                    "care_site", "care_site_key", "care_site_id")
    pr = pr.withColumn("provider_pseudonym", deid.pseudonym("provider", F.col("provider_key")))
    return [("location", generalise_location(omop_rows.location(loc))), ("care_site", omop_rows.care_site(cs)),
            ("provider", omop_rows.provider(pr, gender))]


def _persons(e: Entities, ids: BatchIds, deid: Deidentifier, std: dict[str, dict[str, int]],
             types: dict[str, int], dated: list[tuple[DataFrame, str]]) -> Tables:
    p = ids.attach(e.persons, "person", "person_key", "person_id")
    p = ids.attach(p, "location", "location_key", "location_id")
    p = ids.attach(p, "provider", "provider_key", "provider_id")
    p = ids.attach(p, "care_site", "care_site_key", "care_site_id")
    p = p.withColumn("person_pseudonym", deid.pseudonym("person", F.col("person_key"))).localCheckpoint(eager=True)
    person = omop_rows.person(p, std.get("gender", {}), std.get("race", {}), std.get("ethnicity", {}))
    # Safe Harbor: year of birth only, ages over 89 grouped at the latest date the batch shows.
    person = generalise_person(person, latest_date([*dated, (p, "death_ts")]))
    return [("person", person), ("death", omop_rows.death(p, types["death_ehr"]))]


def _visits(e: Entities, ids: BatchIds) -> DataFrame:
    v = ids.attach(e.visits, "visit", "visit_key", "visit_occurrence_id")
    v = ids.attach(v, "person", "person_key", "person_id")
    v = ids.attach(v, "provider", "provider_key", "provider_id")
    return ids.attach(v, "care_site", "care_site_key", "care_site_id").localCheckpoint(eager=True)


def _events(mapped: DataFrame, ids: BatchIds) -> DataFrame:
    ev = ids.attach(mapped, "event", "event_key", "event_id")
    ev = ids.attach(ev, "person", "person_key", "person_id")
    ev = ids.attach(ev, "visit", "visit_key", "visit_occurrence_id")
    return ids.attach(ev, "provider", "provider_key", "provider_id").localCheckpoint(eager=True)


def _payments(e: Entities, ids: BatchIds, types: dict[str, int]) -> Tables:
    pp = ids.attach(e.payer_periods.withColumn("_k", payer_period_key()), "payer_plan_period", "_k",
                    "payer_plan_period_id")
    pp = ids.attach(pp, "person", "person_key", "person_id")
    c = ids.attach(ids.attach(e.costs, "cost", "cost_key", "cost_id"), "visit", "visit_key", "cost_event_id")
    return [("payer_plan_period", omop_rows.payer_plan_period(pp)), ("cost", omop_rows.cost(c, types["claim"]))]


def omop_tables(entities: Entities, mapped: DataFrame, ids: BatchIds, deid: Deidentifier,
                std: dict[str, dict[str, int]]) -> Tables:
    """``(table, rows)`` of every OMOP table the batch feeds, in write order.

    Args:
        entities: checked and shifted frames.
        mapped: the mapped events.
        ids: the batch's resolved ids.
        deid: the run's de-identifier (pseudonyms of source keys).
        std: ``etl.standard_concepts`` (gender, race, ethnicity, visit and type concepts).
    """
    types = {**TYPE_DEFAULTS, **std.get("type", {})}
    out = _organisations(entities, ids, deid, std.get("gender", {}))
    v = _visits(entities, ids)
    ev = _events(mapped, ids)
    out += _persons(entities, ids, deid, std, types, [(v, "start_ts"), (ev, "start_ts")])
    vo = omop_rows.visit_occurrence(v, std.get("visit", {}), types["ehr_encounter"])
    out += [("visit_occurrence", vo), ("visit_detail", omop_rows.visit_detail(conform(vo, "visit_occurrence").table))]
    out += [(table, project(route(ev, table))) for table, project in omop_rows.EVENT_PROJECTIONS.items()]
    out.append(("observation_period", omop_rows.observation_period(v, ev, types["obs_period_ehr"])))
    return out + _payments(entities, ids, types)
