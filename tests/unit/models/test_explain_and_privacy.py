"""Explanations and the membership-inference check on real UCI Diabetes 130-US encounters.

The estimator is the one training uses (``models.training.build_estimator``); a planted feature
(the label plus noise) is made predictive by construction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlhops.features.spec import FeatureSpec
from mlhops.models import explain, privacy
from mlhops.models.training import build_estimator
from tests.conftest import reads_shared_data, shared_path

ROWS = 6000
NUMERIC = {"time_in_hospital": "length_of_stay_days", "num_lab_procedures": "n_labs",
           "num_medications": "n_drugs", "number_inpatient": "prior_inpatient", "number_diagnoses": "n_diagnoses"}
CATEGORICAL = {"gender": "sex", "admission_source_id": "admitted_from"}


def _specs(extra: tuple[str, ...] = ()) -> list[FeatureSpec]:
    # Only name and kind matter to the estimator; the source is any valid one.
    nums = [FeatureSpec(n, "numeric", "observation", agg="count", concept_ids=(1,))
            for n in (*NUMERIC.values(), *extra)]
    return nums + [FeatureSpec("sex", "categorical", "person", field="sex"),
                   FeatureSpec("admitted_from", "categorical", "visit", field="admitted_from")]


@pytest.fixture(scope="module")
@reads_shared_data
def uci() -> pd.DataFrame:
    raw = pd.read_csv(shared_path("uci_diabetes_130_us_hospitals", "diabetic_data.csv.gz"), na_values="?",
                      keep_default_na=False, low_memory=False).sort_values("encounter_id").head(ROWS)
    df = pd.DataFrame({new: raw[old].astype(float) for old, new in NUMERIC.items()})
    for old, new in CATEGORICAL.items():
        df[new] = raw[old].astype(str)
    df["label"] = (raw["readmitted"] == "<30").astype(int).to_numpy()
    df["person_id"] = raw["patient_nbr"].to_numpy()
    rng = np.random.default_rng(3)
    # Predictive by construction: the outcome itself plus noise.
    df["planted"] = df["label"] + rng.normal(0.0, 0.8, len(df))
    df["noise"] = rng.normal(0.0, 1.0, len(df))
    persons = df["person_id"].unique()
    held = set(rng.choice(persons, size=len(persons) // 2, replace=False))
    df["is_validation"] = df["person_id"].isin(held)
    return df.reset_index(drop=True)


def _fit(df: pd.DataFrame, specs: list[FeatureSpec], algorithm: str = "logistic_regression"):
    model = build_estimator(specs, algorithm)
    train = df[~df["is_validation"]]
    model.fit(train[[s.name for s in specs]], train["label"])
    return model


def test_permutation_importance_ranks_the_planted_feature_first_and_noise_near_zero(uci):
    specs = _specs(("planted", "noise"))
    model = _fit(uci, specs)
    val = uci[uci["is_validation"]]
    found = explain.permutation_importance(model, val, val["label"].to_numpy(), [s.name for s in specs],
                                           repeats=5, seed=0, confidence=0.95)
    by = {f.feature: f for f in found}
    assert found[0].feature == "planted" and found[0].rank == 1
    assert by["planted"].ci_lower > 0.1  # the AUROC falls a lot without it
    assert abs(by["noise"].importance) < 0.01 and by["noise"].rank > 3
    assert [f.rank for f in found] == list(range(1, len(found) + 1))
    assert all(f.ci_lower <= f.importance <= f.ci_upper for f in found)


def test_rank_correlation_is_one_for_the_same_order_and_negative_for_the_reverse():
    ref = {"a": 0.3, "b": 0.2, "c": 0.1, "d": 0.0}
    assert explain.rank_correlation(ref, {"a": 0.9, "b": 0.5, "c": 0.2, "d": 0.1}) == pytest.approx(1.0)
    assert explain.rank_correlation(ref, {"a": 0.0, "b": 0.1, "c": 0.2, "d": 0.3}) == pytest.approx(-1.0)
    assert np.isnan(explain.rank_correlation(ref, {"a": 0.1, "b": 0.2}))  # too few common features


def test_linear_explanation_shows_only_the_rows_values_and_sums_to_the_logit_gap(uci):
    specs = _specs()
    names = [s.name for s in specs]
    model = _fit(uci, specs)
    reference = explain.reference_values(uci[~uci["is_validation"]], specs)
    row = uci[uci["is_validation"]].iloc[[7]]
    method, unit, score, contributions = explain.explain_row(model, row, names, reference)
    assert unit == "logit" and "coefficient" in method
    assert {c.feature for c in contributions} == set(names)
    for c in contributions:
        assert c.value == row[c.feature].iloc[0] and c.reference == reference[c.feature]
    ref_row = pd.DataFrame([reference])[names]
    gap = model.decision_function(row[names])[0] - model.decision_function(ref_row)[0]
    assert sum(c.contribution for c in contributions) == pytest.approx(gap, abs=1e-9)
    assert score == pytest.approx(model.predict_proba(row[names])[0, 1])
    mags = [abs(c.contribution) for c in contributions]
    assert mags == sorted(mags, reverse=True)


def test_non_linear_explanation_is_occlusion_against_the_training_reference(uci):
    specs = _specs()
    names = [s.name for s in specs]
    model = _fit(uci.head(2000), specs, "gradient_boosting")
    reference = explain.reference_values(uci[~uci["is_validation"]], specs)
    row = uci[uci["is_validation"]].iloc[[3]]
    _, unit, score, contributions = explain.explain_row(model, row, names, reference)
    assert unit == "probability"
    top = contributions[0]
    occluded = row[names].copy()
    occluded[top.feature] = reference[top.feature]
    assert top.contribution == pytest.approx(score - model.predict_proba(occluded)[0, 1])


def test_reference_values_are_training_means_and_modal_categories(uci):
    train = uci[~uci["is_validation"]]
    ref = explain.reference_values(train, _specs())
    assert ref["n_labs"] == pytest.approx(train["n_labs"].mean())
    assert ref["sex"] == train["sex"].value_counts().idxmax()


def test_a_regularised_model_does_not_tell_training_persons_from_held_out_ones(uci):
    specs = _specs()
    model = _fit(uci, specs)
    result = privacy.check_model(model, uci, [s.name for s in specs], max_auroc=0.6, replicates=200,
                                 confidence=0.95, seed=0)
    assert 0.45 < result.auroc < 0.55 and result.ci_lower < 0.5 + 0.05
    assert result.verdict == privacy.PASS
    assert result.n_members + result.n_nonmembers == uci["person_id"].nunique()


def test_a_deliberately_overfit_model_is_caught_by_the_membership_check(uci):
    from sklearn.ensemble import RandomForestClassifier

    names = list(NUMERIC.values())
    few = uci.head(600)
    forest = RandomForestClassifier(n_estimators=200, random_state=0)  # unpruned trees on a few rows
    forest.fit(few.loc[~few["is_validation"], names], few.loc[~few["is_validation"], "label"])
    result = privacy.check_model(forest, few, names, max_auroc=0.6, replicates=200, confidence=0.95, seed=0)
    assert result.auroc > 0.65 and result.ci_lower > 0.6  # measured 0.714 [0.672, 0.758]
    assert result.verdict == privacy.FAIL


def test_membership_auroc_counts_ties_as_half():
    y = np.array([1, 1, 0, 0])
    p = np.array([0.7, 0.7, 0.3, 0.3])  # every visit has the same loss
    r = privacy.membership_inference(y, p, np.array([True, False, True, False]), max_auroc=0.6, replicates=50,
                                     confidence=0.9, seed=0)
    assert r.auroc == pytest.approx(0.5)
