"""Privacy testing of a trained model: a membership-inference (loss-threshold) check.

An attacker who sees a person's features and outcome guesses "was in the training set" when the
model's log-loss on that person is low. The attack's AUROC (training persons vs held-out
validation persons, one score per person: minus the mean per-visit log-loss) is 0.5 when the
model treats both alike and approaches 1 when it memorised its training persons. The AUROC has
a bootstrap interval (persons resampled within each group) and a verdict against a configured
limit (``models.privacy.max_attack_auroc``): ``fail`` when the estimate exceeds it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

ATTACK = "loss_threshold"
PASS, FAIL = "pass", "fail"
# Probabilities are clipped away from 0 and 1 so a confident miss has a finite loss.
EPS = 1e-12


@dataclass(frozen=True)
class MembershipResult:
    """The attack's AUROC with its interval, the group sizes, the limit and the verdict."""

    auroc: float
    ci_lower: float
    ci_upper: float
    n_members: int
    n_nonmembers: int
    max_auroc: float
    verdict: str


def log_loss_per_row(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per-row binary log-loss of predicted probabilities ``p`` for labels ``y``."""
    q = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    y = np.asarray(y, dtype=float)
    return -(y * np.log(q) + (1 - y) * np.log(1 - q))


def _auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(score of a member > score of a non-member), ties counting half (Mann-Whitney)."""
    both = np.concatenate([pos, neg])
    ranks = pd.Series(both).rank().to_numpy()
    r_pos = ranks[: pos.size].sum()
    return float((r_pos - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def membership_inference(y: np.ndarray, p: np.ndarray, member: np.ndarray, persons: np.ndarray | None = None, *,
                         max_auroc: float, replicates: int, confidence: float, seed: int) -> MembershipResult:
    """Loss-threshold membership attack: AUROC of minus the log-loss, members vs non-members.

    Args:
        y: labels of every visit.
        p: the model's predicted probabilities for them.
        member: True for visits of the training split.
        persons: person keys; when given, one score per person (mean loss of their visits).
        max_auroc: the limit of the verdict.
        replicates: bootstrap replicates (persons resampled within each group).
        confidence: the interval's confidence level.
        seed: the bootstrap seed.

    Raises:
        ValueError: either group is empty.
    """
    loss = log_loss_per_row(y, p)
    member = np.asarray(member, dtype=bool)
    if persons is not None:
        per = pd.DataFrame({"person": np.asarray(persons), "member": member, "loss": loss}) \
            .groupby(["person", "member"], sort=False)["loss"].mean().reset_index()
        loss, member = per["loss"].to_numpy(), per["member"].to_numpy(dtype=bool)
    pos, neg = -loss[member], -loss[~member]
    if pos.size == 0 or neg.size == 0:
        raise ValueError("membership inference needs members and non-members")
    estimate = _auroc(pos, neg)
    rng = np.random.default_rng(seed)
    boots = np.array([_auroc(pos[rng.integers(0, pos.size, pos.size)], neg[rng.integers(0, neg.size, neg.size)])
                      for _ in range(replicates)])
    alpha = (1 - confidence) / 2
    lo, hi = (float(v) for v in np.quantile(boots, [alpha, 1 - alpha]))
    verdict = FAIL if estimate > max_auroc else PASS
    return MembershipResult(estimate, lo, hi, int(pos.size), int(neg.size), max_auroc, verdict)


def check_model(model: Any, pdf: pd.DataFrame, features: Sequence[str], *, max_auroc: float, replicates: int,
                confidence: float, seed: int) -> MembershipResult:
    """Run the attack on a training frame (``label``, ``is_validation``, ``person_id`` and the features)."""
    p = model.predict_proba(pdf[list(features)])[:, 1]
    persons = pdf["person_id"].to_numpy() if "person_id" in pdf.columns else None
    return membership_inference(pdf["label"].to_numpy(), p, ~pdf["is_validation"].to_numpy(dtype=bool), persons,
                                max_auroc=max_auroc, replicates=replicates, confidence=confidence, seed=seed)


def privacy_row(name: str, version: str, result: MembershipResult, computed_at: dt.datetime) -> dict:
    """The ``mlhops.model_privacy`` row of a result."""
    return {"model_name": name, "model_version": version, "attack": ATTACK, "auroc": result.auroc,
            "ci_lower": result.ci_lower, "ci_upper": result.ci_upper, "n_members": result.n_members,
            "n_nonmembers": result.n_nonmembers, "max_auroc": result.max_auroc, "verdict": result.verdict,
            "computed_at": computed_at}
