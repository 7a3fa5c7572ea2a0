"""alibi-detect 0.11.4 detectors over the VAE embedding, and their scoring into DriftResult.

One :class:`DetectorSuite` per feature set: the reference preprocessing, the VAE encoder mean
(the ``preprocess_fn`` of MMD, LSDD and the latent KS screen) and the alibi detectors, each
saved in alibi-detect's own format (``save_detector``/``load_detector``).

MMD scoring can use alibi's own ``predict`` (``mmd_permutation: alibi``) or the batched
one-kernel-matrix permutation test of :mod:`mlhops.drift.fast_mmd` (``batched``, default):
same kernel, same bandwidth, same statistic and p-value rule, several times faster.

The preprocessing and the VAE are fitted on one part of the baseline sample and the detectors'
reference (``x_ref``) is a disjoint part: the rows a window is compared with are then, like the
window's rows, rows the fitted transform has never seen, so under no drift the two samples are
exchangeable with respect to everything fitted (see docs/drift-power.md).

A saved suite holds no patient row: :meth:`DetectorSuite.save` writes the fitted parts only
(configuration, preprocessing state, encoder weights, alibi configs and the classifier's
architecture) and drops alibi's ``x_ref.npy``; the reference rows themselves go to the governed
Delta table ``mlhops.detector_references`` (:mod:`mlhops.drift.references`), and
:func:`load_suite` rebuilds ``x_ref`` from them with the saved preprocessing (bit for bit the
matrix the detectors were built on).
"""

from __future__ import annotations

import functools
import json
import re
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlhops.drift.device import device_name, seeded_random, select_device, synchronize
from mlhops.drift.preprocess import FeatureLike, TabularPreprocessor, fit_preprocessor
from mlhops.errors import SchemaError

logger = logging.getLogger(__name__)

DetectorName = Literal["mmd", "lsdd", "classifier", "ks"]
DETECTORS: tuple[str, ...] = ("mmd", "lsdd", "classifier", "ks")
MANIFEST = "suite.json"
# Index of a folder of slice suites (save_suites).
INDEX = "index.json"
# alibi-detect's file of a saved detector's reference rows (never kept in a saved suite).
X_REF_FILE = "x_ref.npy"
# Share of the pooled sample the domain classifier trains on (the rest is the test).
CLASSIFIER_TRAIN_SIZE = 0.75
# Rows per batch when embedding through the encoder.
EMBED_BATCH = 4096
# Share of a single baseline sample that fits the preprocessing and the VAE; the rest is x_ref.
FIT_SHARE = 0.5


@dataclass(frozen=True)
class SuiteConfig:
    """What to build; mirrors the detector part of ``DriftSettings``."""

    detectors: tuple[str, ...] = DETECTORS
    alpha: float = 0.05
    n_permutations: int = 100
    mmd_permutation: Literal["batched", "alibi"] = "batched"
    latent_dim: int = 8
    hidden_dim: int = 64
    vae_epochs: int = 30
    vae_batch_size: int = 256
    vae_learning_rate: float = 1e-3
    vae_beta: float = 0.5
    classifier_hidden: int = 32
    classifier_epochs: int = 5
    # 0: one split, trained on 75%, tested on the held-out 25%. k > 1: k-fold out-of-fold
    # predictions (every row tested). See docs/drift-power.md for the measured false-alarm rate.
    classifier_folds: int = 0
    classifier_batch_size: int = 256
    seed: int = 0
    # auto: CUDA when present at run time, else CPU (left to alibi when loading); cpu; cuda.
    device: str = "auto"


@dataclass(frozen=True)
class DetectorOutcome:
    """One detector's answer on one sample (before being put in a DriftResult)."""

    detector: str
    statistic: float
    p_value: float
    threshold: float
    drift: bool
    threshold_kind: str
    n_reference: int
    n_current: int
    seconds: float
    device: str
    extra: dict[str, float] = field(default_factory=dict)


class DetectorSuite:
    """Fitted preprocessing + VAE encoder + alibi detectors for one feature set."""

    def __init__(
        self,
        preprocessor: TabularPreprocessor,
        encoder: Any,
        detectors: dict[str, Any],
        config: SuiteConfig,
        meta: dict[str, Any],
        reference: pd.DataFrame | None = None,
    ) -> None:
        self.preprocessor = preprocessor
        self.encoder = encoder
        self.detectors = detectors
        self.config = config
        self.meta = meta
        # The rows ``x_ref`` was built from (features, plus ``person_id`` when sampled with it);
        # kept in memory for the Delta reference table, never written by :meth:`save`.
        self.reference = reference

    @property
    def feature_names(self) -> list[str]:
        """Input features, in order."""
        return self.preprocessor.feature_names

    def embed(self, frame: pd.DataFrame) -> np.ndarray:
        """Latent means of rows (for diagnostics and plots)."""
        import torch

        x = torch.from_numpy(self.preprocessor.transform(frame))
        dev = next(self.encoder.parameters()).device
        with torch.no_grad():
            parts = [self.encoder(x[s : s + EMBED_BATCH].to(dev)).cpu() for s in range(0, len(x), EMBED_BATCH)]
        return torch.cat(parts).numpy() if parts else np.zeros((0, self.config.latent_dim), np.float32)

    def score(self, frame: pd.DataFrame, *, seed: int | None = None) -> list[DetectorOutcome]:
        """Run every detector on one current sample.

        Args:
            frame: the current sample (feature columns as fitted).
            seed: seeds the permutations / classifier folds; defaults to the suite's seed. The
                same seed and sample give the same p-values, before and after save/load.

        Returns:
            One outcome per detector, in the configured order.
        """
        x = self.preprocessor.transform(frame)
        s = self.config.seed if seed is None else seed
        return [self._score_one(name, x, s) for name in self.config.detectors]

    def score_detector(self, name: str, frame: pd.DataFrame, *, seed: int | None = None) -> DetectorOutcome:
        """Run one configured detector on one current sample (see :meth:`score`)."""
        if name not in self.detectors:
            raise SchemaError(f"detector {name!r} is not part of this suite ({sorted(self.detectors)})")
        return self._score_one(name, self.preprocessor.transform(frame), self.config.seed if seed is None else seed)

    def _score_one(self, name: str, x: np.ndarray, seed: int) -> DetectorOutcome:
        det = self.detectors[name]
        inner = getattr(det, "_detector", det)
        device = getattr(inner, "device", None) or next(self.encoder.parameters()).device
        start = time.perf_counter()
        extra: dict[str, float] = {}
        if name == "mmd" and self.config.mmd_permutation == "batched":
            stat, p, thr = _batched_mmd(inner, x, seed)
            kind = "distance"
        else:
            with seeded_random(seed):
                pred = det.predict(x)["data"]
            if name == "ks":
                pvals = np.asarray(pred["p_val"], dtype=float)
                dists = np.asarray(pred["distance"], dtype=float)
                # Bonferroni over latent dimensions, as alibi flags it.
                p = float(min(1.0, pvals.min() * len(pvals)))
                stat, thr, kind = float(dists.max()), float(self.config.alpha), "p_value"
                extra = {f"ks_latent_{i}": float(d) for i, d in enumerate(dists)}
            elif name == "classifier":
                p, stat, thr, kind = float(pred["p_val"]), float(pred["distance"]), float(self.config.alpha), "p_value"
            else:
                p, stat, thr, kind = float(pred["p_val"]), float(pred["distance"]), float(pred["distance_threshold"]), "distance"
        synchronize(device)
        seconds = time.perf_counter() - start
        n_ref = int(len(inner.x_ref)) if hasattr(inner, "x_ref") else int(self.meta.get("n_reference", 0))
        return DetectorOutcome(
            detector=name, statistic=float(stat), p_value=float(p), threshold=float(thr),
            drift=bool(p < self.config.alpha), threshold_kind=kind, n_reference=n_ref, n_current=int(len(x)),
            seconds=seconds, device=device_name(device), extra=extra,
        )

    def save(self, directory: str | Path) -> Path:
        """Write the suite's fitted parts: preprocessing JSON, encoder weights, one alibi folder
        per detector, without the reference rows (alibi's ``x_ref.npy`` is removed; they belong in
        ``mlhops.detector_references``).

        The encoder is moved to the CPU while saving so the artefacts load on machines without
        a GPU; the device is chosen again when loading.
        """
        import torch
        from alibi_detect.saving import save_detector

        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        self.preprocessor.save(root / "preprocessor.json")
        dev = next(self.encoder.parameters()).device
        self.encoder.to("cpu")
        try:
            torch.save(self.encoder.encoder.state_dict(), root / "encoder_state.pt")
            for name, det in self.detectors.items():
                save_detector(det, root / "detectors" / name)
                (root / "detectors" / name / X_REF_FILE).unlink(missing_ok=True)
        finally:
            self.encoder.to(dev)
        left = sorted(str(p.relative_to(root)) for p in root.rglob(X_REF_FILE))
        if left:
            raise SchemaError(f"{root}: reference rows left in the saved suite ({left})")
        manifest = {"config": self.config.__dict__ | {"detectors": list(self.config.detectors)}, "meta": self.meta}
        (root / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str))
        return root


def load_suite(directory: str | Path, reference: pd.DataFrame) -> DetectorSuite:
    """Load a suite written by :meth:`DetectorSuite.save` (the detectors via alibi's ``load_detector``)
    with its reference rows (read from ``mlhops.detector_references``).

    ``x_ref`` is the saved preprocessing applied to ``reference``, written into a private copy of
    the folder for alibi to read and removed with it. A suite fitted with ``device: auto`` picks
    its device now (CUDA when present, else CPU): the alibi configs hold no device, so alibi
    resolves it when rebuilding each detector.

    Args:
        directory: the saved suite.
        reference: the detectors' reference rows, in their stored order (fewer than fitted
            after an erasure: the rows left are used).

    Raises:
        SchemaError: the folder is not a saved suite, or no rows, or more rows than the suite
            was fitted with.
    """
    root = Path(directory)
    if not (root / MANIFEST).exists():
        raise SchemaError(f"{root}: not a saved drift detector suite ({MANIFEST} missing)")
    manifest = json.loads((root / MANIFEST).read_text())
    expected = int(manifest["meta"].get("n_reference", len(reference)))
    if not 0 < len(reference) <= expected:
        raise SchemaError(f"{root}: {len(reference)} reference rows stored, the suite was fitted on {expected}")
    if len(reference) < expected:
        # An erasure removed some persons' rows and flagged the version for re-fitting; until
        # then the detectors compare with the rows that are left.
        logger.warning("%s: %d of %d reference rows left after an erasure; re-fit the detectors", root.name,
                       len(reference), expected)
    preprocessor = TabularPreprocessor.load(root / "preprocessor.json")
    cfg = manifest["config"]
    config = SuiteConfig(**{**cfg, "detectors": tuple(cfg["detectors"])})
    x_ref = preprocessor.transform(reference)
    embedded: np.ndarray | None = None
    with tempfile.TemporaryDirectory(prefix="mlhops-suite-") as tmp:
        work = Path(tmp) / "suite"
        shutil.copytree(root, work)
        for folder in sorted((work / "detectors").iterdir()):
            if _x_ref_preprocessed(folder):
                # alibi keeps a detector's reference embedded when it embeds at start-up (MMD,
                # LSDD, KS): the same encoder and batches give the same embedding (on the CPU).
                if embedded is None:
                    embedded = _embed_reference(x_ref, _rebuild_encoder(work, preprocessor, config))
                np.save(folder / X_REF_FILE, embedded)
            else:
                np.save(folder / X_REF_FILE, x_ref)
        suite = _load_saved(work, manifest, preprocessor)
    suite.reference = reference
    return suite


def _x_ref_preprocessed(folder: Path) -> bool:
    """Whether alibi saved this detector's reference already preprocessed (embedded)."""
    import tomllib

    with open(folder / "config.toml", "rb") as fh:
        return bool(tomllib.load(fh).get("x_ref_preprocessed", False))


def _embed_reference(x_ref: np.ndarray, encoder: Any) -> np.ndarray:
    """``x_ref`` through the encoder as alibi embeds it at start-up (its ``preprocess_drift``)."""
    import torch
    from alibi_detect.cd.pytorch import preprocess_drift

    return np.asarray(preprocess_drift(x_ref, model=encoder, device=torch.device("cpu"), batch_size=EMBED_BATCH))


def _load_saved(root: Path, manifest: dict[str, Any], preprocessor: TabularPreprocessor) -> DetectorSuite:
    """The suite of a saved folder whose detectors have their ``x_ref.npy`` back."""
    from alibi_detect.saving import load_detector

    cfg = manifest["config"]
    config = SuiteConfig(**{**cfg, "detectors": tuple(cfg["detectors"])})
    dev = select_device(config.device)
    detectors: dict[str, Any] = {}
    encoder = None
    for name in config.detectors:
        # Same seed as at fit time: LSDD draws its kernel centres when it is built.
        with seeded_random(config.seed):
            det = load_detector(root / "detectors" / name)
        detectors[name] = det
        fn = getattr(getattr(det, "_detector", det), "preprocess_fn", None)
        if encoder is None and isinstance(fn, functools.partial) and "model" in fn.keywords:
            encoder = fn.keywords["model"]
    if encoder is None:
        encoder = _rebuild_encoder(root, preprocessor, config)
    encoder = encoder.to(dev).eval()
    return DetectorSuite(preprocessor, encoder, detectors, config, manifest["meta"])


def split_reference(reference: pd.DataFrame, fit_share: float = FIT_SHARE, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded split of one baseline sample into a fit part and a disjoint detector reference.

    Args:
        reference: the baseline sample.
        fit_share: share of rows (rounded) that go to the fit part; both parts keep at least one row.
        seed: seeds the split.

    Returns:
        ``(fit part, reference part)``, each in the original row order with a fresh index.

    Raises:
        SchemaError: fewer than two rows, or ``fit_share`` outside (0, 1).
    """
    if not 0.0 < fit_share < 1.0:
        raise SchemaError(f"fit share must lie in (0, 1), got {fit_share}")
    n = len(reference)
    if n < 2:
        raise SchemaError(f"drift reference sample: {n} rows cannot be split into a fit part and a reference")
    n_fit = min(n - 1, max(1, round(n * fit_share)))
    pick = np.zeros(n, dtype=bool)
    pick[np.random.default_rng(seed).choice(n, n_fit, replace=False)] = True
    return reference[pick].reset_index(drop=True), reference[~pick].reset_index(drop=True)


def fit_suite(
    reference: pd.DataFrame,
    features: list[FeatureLike],
    config: SuiteConfig,
    *,
    fit_sample: pd.DataFrame | None = None,
    meta: dict[str, Any] | None = None,
    base: DetectorSuite | None = None,
) -> DetectorSuite:
    """Fit preprocessing and the VAE on a fit sample, and build the detectors on a disjoint reference.

    The preprocessing (imputation values, scaling, category levels) and the VAE are not fitted on
    the rows that become the detectors' ``x_ref``: a current window's rows are never in the fit, so
    only a disjoint reference is exchangeable with them under no drift, as the tests assume.

    Args:
        reference: baseline rows (driver-side pandas frame, already capped). Without
            ``fit_sample`` and ``base`` it is split (:func:`split_reference`, ``FIT_SHARE``,
            ``config.seed``) into the fit part and the detectors' reference.
        features: feature names and kinds.
        config: what to build (``config.device``: ``auto`` = CUDA if present, else CPU).
        fit_sample: rows to fit the preprocessing and the VAE on; then all of ``reference``
            is the detectors' reference. The two must be disjoint sets of rows.
        meta: lineage recorded with the suite (reference window, data versions...).
        base: reuse this suite's preprocessing and VAE encoder (slice suites share the
            whole-population embedding, so slices are compared in one latent space); ``reference``
            must then be disjoint from the rows ``base`` was fitted on.

    Returns:
        The fitted suite; ``meta`` records ``n_fit`` (rows the preprocessing and VAE saw) and
        ``n_reference`` (rows of ``x_ref``).
    """
    import torch
    from alibi_detect.cd.pytorch import preprocess_drift

    unknown = [d for d in config.detectors if d not in DETECTORS]
    if unknown:
        raise SchemaError(f"unknown drift detectors {unknown}; known: {list(DETECTORS)}")
    dev = select_device(config.device)
    # None lets alibi choose again when a saved detector is loaded (run-time device choice).
    alibi_dev = None if config.device == "auto" else dev.type
    pre, encoder, reference, fit_meta = _fit_embedding(reference, features, config, fit_sample, base, dev)
    x_ref = pre.transform(reference)
    preprocess_fn = functools.partial(preprocess_drift, model=encoder, device=alibi_dev, batch_size=EMBED_BATCH)
    detectors, build_seconds = _build_detectors(x_ref, config, preprocess_fn, alibi_dev)
    all_meta = {
        "features": pre.feature_names, "n_reference": int(len(reference)), "n_inputs": pre.n_outputs,
        "fit_device": device_name(dev), "torch_version": torch.__version__, **fit_meta, **build_seconds,
    }
    all_meta.update(meta or {})
    return DetectorSuite(pre, encoder, detectors, config, all_meta, reference=reference.reset_index(drop=True))


def _fit_embedding(
    reference: pd.DataFrame,
    features: list[FeatureLike],
    config: SuiteConfig,
    fit_sample: pd.DataFrame | None,
    base: DetectorSuite | None,
    dev: Any,
) -> tuple[TabularPreprocessor, Any, pd.DataFrame, dict[str, Any]]:
    """The preprocessing and VAE encoder (fitted, or ``base``'s), the detectors' reference rows
    and the fit's lineage (``vae_final_loss``, ``vae_seconds``, ``n_fit``)."""
    if base is not None:
        if fit_sample is not None:
            raise SchemaError("fit_suite: pass either base (reuse its fit) or fit_sample, not both")
        fit_meta = {k: base.meta[k] for k in ("vae_final_loss", "vae_seconds", "n_fit") if k in base.meta}
        return base.preprocessor, base.encoder, reference, fit_meta
    from mlhops.drift.vae import VAEConfig, train_vae

    if fit_sample is None:
        fit_sample, reference = split_reference(reference, FIT_SHARE, config.seed)
    pre = fit_preprocessor(fit_sample, features)
    vae_cfg = VAEConfig(
        latent_dim=config.latent_dim, hidden_dim=config.hidden_dim, epochs=config.vae_epochs,
        batch_size=config.vae_batch_size, learning_rate=config.vae_learning_rate, beta=config.vae_beta,
        seed=config.seed,
    )
    vae, report = train_vae(pre.transform(fit_sample), pre.binary_mask, vae_cfg, dev)
    fit_meta = {"vae_final_loss": report.final_loss, "vae_seconds": report.seconds, "n_fit": int(len(fit_sample))}
    return pre, vae.encoder_mean(), reference, fit_meta


def _build_detectors(
    x_ref: np.ndarray, config: SuiteConfig, preprocess_fn: Any, alibi_dev: str | None
) -> tuple[dict[str, Any], dict[str, float]]:
    """Every configured detector on ``x_ref`` (seeded), and the seconds each took to build."""
    detectors: dict[str, Any] = {}
    build_seconds: dict[str, float] = {}
    for name in config.detectors:
        start = time.perf_counter()
        with seeded_random(config.seed):
            detectors[name] = _detector(name, x_ref, config, preprocess_fn, alibi_dev)
        build_seconds[f"build_seconds_{name}"] = time.perf_counter() - start
        logger.info("built %s detector in %.2fs", name, build_seconds[f"build_seconds_{name}"])
    return detectors, build_seconds


def _detector(name: str, x_ref: np.ndarray, config: SuiteConfig, preprocess_fn: Any, alibi_dev: str | None) -> Any:
    """One alibi-detect detector (``mmd``, ``lsdd``, ``ks`` or ``classifier``) on ``x_ref``."""
    from alibi_detect.cd import ClassifierDrift, KSDrift, LSDDDrift, MMDDrift

    if name == "mmd":
        return MMDDrift(x_ref, backend="pytorch", p_val=config.alpha, preprocess_fn=preprocess_fn,
                        n_permutations=config.n_permutations, device=alibi_dev)
    if name == "lsdd":
        return LSDDDrift(x_ref, backend="pytorch", p_val=config.alpha, preprocess_fn=preprocess_fn,
                         n_permutations=config.n_permutations, device=alibi_dev)
    if name == "ks":
        return KSDrift(x_ref, p_val=config.alpha, preprocess_fn=preprocess_fn)
    return ClassifierDrift(
        x_ref, _classifier(x_ref.shape[1], config.classifier_hidden), backend="pytorch",
        p_val=config.alpha, preds_type="logits", binarize_preds=False,
        train_size=None if config.classifier_folds > 1 else CLASSIFIER_TRAIN_SIZE,
        n_folds=config.classifier_folds if config.classifier_folds > 1 else None,
        epochs=config.classifier_epochs, seed=config.seed,
        batch_size=config.classifier_batch_size,
        device=alibi_dev,
    )


def _classifier(n_inputs: int, hidden: int) -> Any:
    """Small MLP domain classifier (2 logits: reference vs current)."""
    from torch import nn

    return nn.Sequential(nn.Linear(n_inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))


def _batched_mmd(inner: Any, x: np.ndarray, seed: int) -> tuple[float, float, float]:
    """MMD permutation test on alibi's own preprocessing, kernel and reference kernel block."""
    import torch

    from mlhops.drift.fast_mmd import fill_kernel_matrix, mmd_permutation_test

    x_ref_p, x_p = inner.preprocess(x)
    dev = inner.device
    xr = torch.as_tensor(np.asarray(x_ref_p), device=dev)
    xc = torch.as_tensor(np.asarray(x_p), device=dev).to(xr.dtype)
    k_xx = inner.k_xx if inner.k_xx is not None and inner.update_x_ref is None else None
    kmat = fill_kernel_matrix(inner.kernel, xr, xc, k_xx)
    res = mmd_permutation_test(kmat, xr.shape[0], inner.n_permutations, inner.p_val, seed)
    del kmat
    return res.statistic, res.p_value, res.threshold


def _rebuild_encoder(root: Path, pre: TabularPreprocessor, config: SuiteConfig) -> Any:
    import torch

    from mlhops.drift.vae import Encoder, EncoderMean

    enc = Encoder(pre.n_outputs, config.hidden_dim, config.latent_dim)
    enc.load_state_dict(torch.load(root / "encoder_state.pt", map_location="cpu", weights_only=True))
    return EncoderMean(enc).eval()


def suite_dirname(slice_name: str, slice_value: str) -> str:
    """File-system-safe folder name of a slice suite."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{slice_name}={slice_value}")
    return safe[:120]


def save_suites(root: Path, suites: dict[tuple[str, str], DetectorSuite]) -> Path:
    """Write every suite's fitted parts under ``root/suites`` with an index (no reference rows)."""
    index = []
    for (sl, val), suite in suites.items():
        d = suite_dirname(sl, val)
        suite.save(root / "suites" / d)
        index.append({"slice": sl, "slice_value": val, "dir": d})
    (root / INDEX).write_text(json.dumps(index, indent=1))
    return root


def saved_preprocessors(root: Path) -> dict[tuple[str, str], TabularPreprocessor]:
    """The saved preprocessing of each suite under ``root`` (what reading its rows back needs)."""
    index = json.loads((root / INDEX).read_text())
    return {(e["slice"], e["slice_value"]): TabularPreprocessor.load(root / "suites" / e["dir"] / "preprocessor.json")
            for e in index}


def load_suites(root: Path, references: dict[tuple[str, str], pd.DataFrame]) -> dict[tuple[str, str], DetectorSuite]:
    """Inverse of :func:`save_suites`, given each suite's reference rows."""
    index = json.loads((root / INDEX).read_text())
    missing = [(e["slice"], e["slice_value"]) for e in index if (e["slice"], e["slice_value"]) not in references]
    if missing:
        raise SchemaError(f"drift suites: no reference rows for {len(missing)} suite(s)")
    return {(e["slice"], e["slice_value"]): load_suite(root / "suites" / e["dir"], references[(e["slice"], e["slice_value"])])
            for e in index}
