"""Settings of the monitoring stages (quality, features, stats, drift, models, alerts, report).

Each stage owns one dataclass here; stages that are not built yet accept only ``enabled``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class QualitySettings:
    """Data quality checks (``conf/quality/*.yaml``) -> ``mlhops.quality_results``."""

    enabled: bool = True
    # Directory of check files; unset means <conf>/quality.
    checks_dir: str | None = None
    # Window granularity of the results: each check is counted per window of the event date.
    window: Literal["day", "week", "month", "year"] = "month"
    # Default maximum share of failing rows (percent) when a check does not set its own.
    default_threshold_pct: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.default_threshold_pct <= 100.0:
            raise ValueError("default_threshold_pct must be within [0, 100]")


@dataclass(frozen=True)
class FeatureSettings:
    """Feature table (``conf/features/*.yaml`` -> ``mlhops.features``), one row per visit."""

    enabled: bool = True
    # Directory of feature definition files; unset means <conf>/features.
    definitions_dir: str | None = None
    # Rebuild only visits touched by changed OMOP rows (change data feed / versions seen).
    incremental: bool = True


@dataclass(frozen=True)
class SliceSettings:
    """A population slice: a Spark SQL expression over feature-table columns."""

    name: str
    expr: str


@dataclass(frozen=True)
class BaselineSettings:
    """Reference for drift: a period [start, end) of the feature table, or another table."""

    start: str | None = None
    end: str | None = None
    # A table with the feature columns and event_date (e.g. mlhops.training_features).
    table: str | None = None


@dataclass(frozen=True)
class UnivariateDriftSettings:
    """Per-feature drift tests computed from the stored window states."""

    enabled: bool = True
    references: tuple[Literal["baseline", "previous"], ...] = ("baseline", "previous")
    granularities: tuple[str, ...] = ("week", "month")
    alpha: float = 0.05
    correction: Literal["bh", "bonferroni", "none"] = "bh"
    # Below this many non-null values on either side a test is not run.
    min_samples: int = 100
    # A significant test flags drift only at or above these effect sizes.
    min_ks_d: float = 0.1
    min_cramers_v: float = 0.1
    # Distances reported beside the tests; PSI above this is flagged on its own.
    psi_threshold: float = 0.25

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError("alpha must be within (0, 1)")
        if self.min_samples < 2:
            raise ValueError("min_samples must be >= 2")


@dataclass(frozen=True)
class StatsSettings:
    """Per-window profile metrics from mergeable states, and univariate drift."""

    enabled: bool = True
    granularities: tuple[Literal["day", "week", "month"], ...] = ("day", "week", "month")
    # Sliding windows of N days, evaluated at the end of each week.
    sliding_days: tuple[int, ...] = (28,)
    # Cumulative windows (history start -> month end) at the last cumulative_months month ends.
    cumulative: bool = True
    cumulative_months: int = 24
    slices: tuple[SliceSettings, ...] = ()
    baseline: BaselineSettings = field(default_factory=BaselineSettings)
    quantiles: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
    histogram_bins: int = 10
    top_k: int = 10
    # Small cells: windows/slices with fewer values publish counts only, and top-k lists only
    # categories counted at least this often (0 publishes everything; states keep full detail).
    min_cell_size: int = 11
    # Category counts kept per window state; rarer categories are pooled into __other__.
    max_categories: int = 256
    # KLL sketch size (rank error about 1.65% at 200) and HLL precision (about 1.6% at 12).
    kll_k: int = 200
    hll_lg_k: int = 12
    # A nightly increment's three Delta commits (states, profile metrics, drift) are independent
    # once its new states are checkpointed: this many run at the same time from driver threads.
    concurrent_commits: int = 3
    drift: UnivariateDriftSettings = field(default_factory=UnivariateDriftSettings)

    def __post_init__(self) -> None:
        if any(not 0.0 <= q <= 1.0 for q in self.quantiles):
            raise ValueError("quantiles must be within [0, 1]")
        if self.min_cell_size < 0:
            raise ValueError("min_cell_size must be >= 0")
        if self.histogram_bins < 2 or self.top_k < 1 or self.max_categories < self.top_k:
            raise ValueError("histogram_bins >= 2, top_k >= 1 and max_categories >= top_k")
        if not 8 <= self.kll_k <= 65535 or not 4 <= self.hll_lg_k <= 21:
            raise ValueError("kll_k must be within [8, 65535] and hll_lg_k within [4, 21]")
        if any(d < 7 for d in self.sliding_days):
            raise ValueError("sliding_days must be >= 7 (sliding windows are evaluated weekly)")
        if not 1 <= self.concurrent_commits <= 3:
            raise ValueError("concurrent_commits must be within [1, 3]")


@dataclass(frozen=True)
class ImagingDriftSettings:
    """Imaging-metadata drift (scanner, protocol, modality mix) in the nightly drift stage."""

    # None: run when omop.image_occurrence exists and holds rows; true: run (skip with a message
    # when it does not); false: never.
    enabled: bool | None = None
    granularity: Literal["day", "week", "month", "year"] = "month"
    # Reference period [start, end) (ISO dates); unset: drift.reference_*, then stats.baseline,
    # then the first ``reference_windows`` windows that hold images.
    reference_start: str | None = None
    reference_end: str | None = None
    reference_windows: int = 3
    min_rows: int = 30  # fewer images (or values of one parameter) on either side: insufficient_data
    sample_cap: int = 5000  # images per window (and for the reference) brought to the driver
    seed: int = 0
    alpha: float = 0.05
    correction: Literal["bh", "bonferroni", "none"] = "bonferroni"  # across parameters, per window
    min_cramers_v: float = 0.2  # categorical parameters (chi-squared): smallest effect that flags
    min_ks_d: float = 0.2  # numeric parameters (two-sample KS): smallest D that flags

    def __post_init__(self) -> None:
        if self.granularity not in ("day", "week", "month", "year"):
            raise ValueError("imaging.granularity must be day, week, month or year")
        if self.correction not in ("bh", "bonferroni", "none"):
            raise ValueError("imaging.correction must be bh, bonferroni or none")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError("imaging.alpha must be within (0, 1)")
        if self.min_rows < 2 or self.sample_cap < self.min_rows or self.reference_windows < 1:
            raise ValueError("imaging: min_rows >= 2, sample_cap >= min_rows, reference_windows >= 1")
        if (self.reference_start is None) != (self.reference_end is None):
            raise ValueError("imaging: set both reference_start and reference_end, or neither")


@dataclass(frozen=True)
class DriftExplainSettings:
    """Per-feature and per-slice explanation of flagged multivariate windows (``mlhops.drift.explain``)."""

    enabled: bool = True
    # Rows per side (reference, window) the drift classifier and the leave-one-feature-out MMD use:
    # an N x N kernel per feature, so the cap bounds the driver's time and memory.
    max_rows: int = 1000
    permutation_repeats: int = 5  # shuffles per feature for the classifier's permutation importance

    def __post_init__(self) -> None:
        if self.max_rows < 50:
            raise ValueError("explain.max_rows must be >= 50")
        if not 1 <= self.permutation_repeats <= 50:
            raise ValueError("explain.permutation_repeats must be within [1, 50]")


@dataclass(frozen=True)
class DriftSettings:
    """Multivariate drift (``mlhops drift fit`` / ``mlhops drift``): samples, VAE, alibi detectors."""

    enabled: bool = True
    # Registered model holding the detectors; nightly runs load the version behind ``alias``.
    model_name: str = "mlhops-drift-detectors"
    alias: str = "production"
    # Nightly with no registered version: fit one (logged and registered) instead of failing.
    # Meant for a first local run; production leaves it false and runs `mlhops drift fit`.
    fit_if_missing: bool = False
    # Feature names to use (empty: every feature of conf/features).
    features: list[str] = field(default_factory=list)
    # Reference period [start, end) (ISO dates); unset: stats.baseline.
    reference_start: str | None = None
    reference_end: str | None = None
    granularity: Literal["day", "week", "month"] = "week"  # windows scored
    slices: list[str] = field(default_factory=list)  # names from stats.slices ("all" always)
    sampling: Literal["uniform", "stratified"] = "uniform"
    strata: list[str] = field(default_factory=list)
    sample_cap: int = 5000  # rows per window and slice value (and for the reference)
    # At most one visit per person per window and slice value (the reference: per person and
    # window-length period): a patient's visits are not independent rows, and the permutation
    # tests assume they are (docs/drift-power.md, generated populations).
    one_row_per_person: bool = True
    min_rows: int = 200  # fewer sampled rows: result with status insufficient_data
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA if present at run time
    detectors: list[str] = field(default_factory=lambda: ["mmd", "lsdd", "classifier", "ks"])
    alpha: float = 0.05
    n_permutations: int = 100
    mmd_permutation: Literal["batched", "alibi"] = "batched"  # batched: one kernel matrix
    latent_dim: int = 8
    hidden_dim: int = 64
    vae_epochs: int = 30
    vae_batch_size: int = 256
    vae_learning_rate: float = 0.001
    vae_beta: float = 0.5
    classifier_hidden: int = 32
    classifier_epochs: int = 5
    classifier_folds: int = 0  # 0: test on a held-out 25% split; k>1: k-fold out-of-fold predictions
    imaging: ImagingDriftSettings = field(default_factory=ImagingDriftSettings)
    explain: DriftExplainSettings = field(default_factory=DriftExplainSettings)

    def __post_init__(self) -> None:
        if self.sampling not in ("uniform", "stratified"):
            raise ValueError("sampling must be uniform or stratified")
        if self.sampling == "stratified" and not self.strata:
            raise ValueError("sampling stratified needs strata")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError("device must be auto, cpu or cuda")
        if self.mmd_permutation not in ("batched", "alibi"):
            raise ValueError("mmd_permutation must be batched or alibi")
        unknown = sorted(set(self.detectors) - {"mmd", "lsdd", "classifier", "ks"})
        if unknown:
            raise ValueError(f"unknown detectors {unknown}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError("alpha must be within (0, 1)")
        if self.sample_cap < 2 or self.min_rows < 2:
            raise ValueError("sample_cap and min_rows must be >= 2")
        if self.granularity not in ("day", "week", "month"):
            raise ValueError("granularity must be day, week or month")


@dataclass(frozen=True)
class ModelBootstrapSettings:
    """Percentile bootstrap of every performance metric (resampling cases within a window)."""

    replicates: int = 200
    confidence: float = 0.95
    seed: int = 20240601

    def __post_init__(self) -> None:
        if self.replicates < 20:
            raise ValueError("replicates must be >= 20")
        if not 0.5 < self.confidence < 1.0:
            raise ValueError("confidence must be within (0.5, 1)")


@dataclass(frozen=True)
class ModelFairnessSettings:
    """Subgroup metrics. Groups below the minimum sizes are suppressed from every output."""

    # Any of: sex, race, ethnicity, age_band, site.
    attributes: tuple[str, ...] = ("sex", "race", "ethnicity", "age_band", "site")
    # Lower edges (years) of the age bands after the first: (18, 45, 65) -> 0-17, 18-44, 45-64, 65+.
    age_bands: tuple[int, ...] = (18, 45, 65, 80)
    min_group_size: int = 50
    # Minimum positives and negatives in a group before label-based metrics are shown.
    min_cell_size: int = 11
    # Disparities are group vs. the largest group of the attribute, or vs. the whole window.
    reference: Literal["largest", "overall"] = "largest"
    # A disparity is flagged when the gap exceeds these and the group's CI excludes the reference.
    max_difference: float = 0.1
    min_ratio: float = 0.8

    def __post_init__(self) -> None:
        allowed = {"sex", "race", "ethnicity", "age_band", "site"}
        unknown = sorted(set(self.attributes) - allowed)
        if unknown:
            raise ValueError(f"fairness.attributes: unknown attribute(s) {unknown}")
        if self.min_group_size < 1 or self.min_cell_size < 0:
            raise ValueError("min_group_size must be >= 1 and min_cell_size >= 0")


@dataclass(frozen=True)
class ModelConceptDriftSettings:
    """Sequential detectors on the per-case error stream (in reference standard errors)."""

    # CUSUM / Page-Hinkley read means of this many consecutive labelled cases.
    block_size: int = 50
    cusum_k: float = 0.5
    cusum_h: float = 8.0
    page_hinkley_delta: float = 0.25
    page_hinkley_lambda: float = 25.0
    ddm_min_instances: int = 100
    ddm_warning_level: float = 2.0
    ddm_drift_level: float = 3.0
    # ADWIN on the per-case Brier loss: confidence of its cut test (river.drift.ADWIN).
    adwin_delta: float = 0.002

    def __post_init__(self) -> None:
        if self.block_size < 1 or self.ddm_min_instances < 1:
            raise ValueError("concept_drift: block_size and ddm_min_instances must be >= 1")
        if not 0.0 < self.adwin_delta < 1.0:
            raise ValueError("concept_drift.adwin_delta must be within (0, 1)")


@dataclass(frozen=True)
class ModelLabelPolicySettings:
    """Which windows need expert labels next."""

    policy: Literal["periodic", "request_and_reverify", "mldemon"] = "mldemon"
    # periodic / mldemon: request a window at least every this many windows.
    period_windows: int = 4
    # Cases to label per requested window (0: all unlabelled cases of the window).
    batch_size: int = 200
    # request_and_reverify / mldemon: estimated AUROC drop (CBPE) or score PSI that asks for labels.
    drift_threshold: float = 0.05
    # mldemon: tolerated accuracy uncertainty, and how much it grows per window without labels.
    tolerance: float = 0.05
    uncertainty_per_window: float = 0.01
    # request_and_reverify / mldemon: a window the drift detectors flagged (mlhops.drift_metrics,
    # univariate effect >= min_drift_effect; mlhops.multivariate_drift) asks for labels, urgently.
    on_data_drift: bool = True
    min_drift_effect: float = 0.1
    # An open request is closed as expired when its labels have not arrived this many days
    # after it was planned (fulfilled requests record their time to label).
    expire_after_days: int = 90

    def __post_init__(self) -> None:
        if self.period_windows < 1 or self.batch_size < 0:
            raise ValueError("label_policy: period_windows must be >= 1 and batch_size >= 0")
        if self.min_drift_effect < 0 or self.expire_after_days < 1:
            raise ValueError("label_policy: min_drift_effect must be >= 0 and expire_after_days >= 1")


@dataclass(frozen=True)
class ModelTriggerSettings:
    """Retraining / recalibration policy (periodic, performance, drift, on demand)."""

    periodic_retrain_days: int = 365  # 0 disables
    min_auroc: float = 0.6
    max_ece: float = 0.05
    max_score_psi: float = 0.25
    on_concept_drift: bool = True
    # Fit a recalibration challenger automatically when a calibration trigger fires.
    auto_recalibrate: bool = True
    recalibration_method: Literal["platt", "isotonic"] = "platt"
    # Minimum labelled cases in the recent window before a recalibration is fitted.
    min_recalibration_cases: int = 200
    # Data-drift triggers from the drift detectors (mlhops.drift_metrics, mlhops.multivariate_drift):
    # fire when one detector flags the same feature (set) on the whole population, against
    # ``drift_reference``, in ``drift_windows`` adjacent windows, with a univariate effect size of
    # at least ``drift_min_effect`` (multivariate detectors have none: their test is the flag).
    on_data_drift: bool = True
    drift_windows: int = 2
    drift_min_effect: float = 0.1
    drift_reference: str = "baseline"
    drift_action: Literal["retrain", "recalibrate"] = "retrain"

    def __post_init__(self) -> None:
        if self.drift_windows < 1:
            raise ValueError("triggers.drift_windows must be >= 1")
        if self.drift_min_effect < 0:
            raise ValueError("triggers.drift_min_effect must be >= 0")
        if self.periodic_retrain_days < 0 or self.min_recalibration_cases < 1:
            raise ValueError("triggers: periodic_retrain_days must be >= 0 and min_recalibration_cases >= 1")


@dataclass(frozen=True)
class ModelPromotionSettings:
    """Champion vs challenger: the rule declared before the comparison (see models.comparison).

    Cases: labelled visits both versions scored, of persons both trainings held out.
    """

    enabled: bool = True
    # Apply a "promote" decision (else it is recorded as a recommendation for `mlhops promote`).
    auto: bool = False
    # Governance: every champion change needs `--approve --by NAME --reason TEXT` (recorded in
    # mlhops.approvals with the evidence), and the pipeline never promotes on its own.
    require_approval: bool = False
    min_cases: int = 200
    min_positives: int = 20
    # Non-inferiority: the lower bound of (challenger - champion) AUROC must exceed -auroc_margin.
    auroc_margin: float = 0.02
    # The upper bound of the Brier score difference must stay below this.
    brier_margin: float = 0.005
    max_ece_increase: float = 0.02
    # Per fairness attribute: the sensitivity gap between reportable groups may not widen more.
    max_fairness_gap_increase: float = 0.05
    # Retire a challenger whose AUROC difference's upper bound is below -auroc_margin.
    reject_inferior: bool = True
    # Paired bootstrap replicates (persons resampled); confidence and seed from models.bootstrap.
    replicates: int = 500

    def __post_init__(self) -> None:
        if self.min_cases < 1 or self.min_positives < 1:
            raise ValueError("promotion: min_cases and min_positives must be >= 1")
        if min(self.auroc_margin, self.brier_margin, self.max_ece_increase, self.max_fairness_gap_increase) < 0:
            raise ValueError("promotion: margins must be >= 0")
        if self.replicates < 100:
            raise ValueError("promotion.replicates must be >= 100")


@dataclass(frozen=True)
class ModelExplainSettings:
    """Global (permutation) importance at training and per labelled window; local explanations."""

    enabled: bool = True
    # Permutations of each feature; the interval is a t-interval over them (models.bootstrap.confidence).
    repeats: int = 5
    # Validation rows (and labelled rows per window) used at most, drawn with the bootstrap seed.
    max_rows: int = 5000
    # A window's importance is computed only with this many labelled cases, and of each class min_cell_size.
    min_window_cases: int = 200
    # A window whose Spearman rank correlation with the training profile is below this is flagged.
    min_rank_correlation: float = 0.5
    # Features shown by `mlhops explain` and in the report.
    top_k: int = 10

    def __post_init__(self) -> None:
        if self.repeats < 2 or self.max_rows < 50 or self.min_window_cases < 20 or self.top_k < 1:
            raise ValueError("explain: repeats >= 2, max_rows >= 50, min_window_cases >= 20 and top_k >= 1")
        if not -1.0 <= self.min_rank_correlation <= 1.0:
            raise ValueError("explain.min_rank_correlation must be within [-1, 1]")


@dataclass(frozen=True)
class ModelPrivacySettings:
    """Membership-inference check at training (loss-threshold attack, train vs validation persons)."""

    enabled: bool = True
    # Attack AUROC above this: the model tells its training persons from held-out ones (verdict fail).
    max_attack_auroc: float = 0.6
    # Bootstrap replicates of the attack AUROC (confidence and seed from models.bootstrap).
    replicates: int = 200

    def __post_init__(self) -> None:
        if not 0.5 <= self.max_attack_auroc <= 1.0:
            raise ValueError("privacy.max_attack_auroc must be within [0.5, 1]")
        if self.replicates < 50:
            raise ValueError("privacy.replicates must be >= 50")


@dataclass(frozen=True)
class ModelSettings:
    """Model lifecycle (train, score, evaluate, promote); the task itself is conf/models/<task>.yaml."""

    enabled: bool = True
    task: str = "readmission_30d"
    # Directory of task definitions (<task>.yaml); unset means <conf>/models.
    tasks_dir: str | None = None
    # Scoring / evaluation windows, [start, end) in UTC.
    window: Literal["day", "week", "month", "year"] = "week"
    # Also score the challenger (shadow mode) so windows compare both side by side.
    score_challenger: bool = True
    # ECE bins (equal width on [0, 1]).
    ece_bins: int = 10
    bootstrap: ModelBootstrapSettings = ModelBootstrapSettings()
    fairness: ModelFairnessSettings = ModelFairnessSettings()
    concept_drift: ModelConceptDriftSettings = ModelConceptDriftSettings()
    label_policy: ModelLabelPolicySettings = ModelLabelPolicySettings()
    triggers: ModelTriggerSettings = ModelTriggerSettings()
    promotion: ModelPromotionSettings = ModelPromotionSettings()
    explain: ModelExplainSettings = ModelExplainSettings()
    privacy: ModelPrivacySettings = ModelPrivacySettings()


@dataclass(frozen=True)
class AlertSettings:
    """Alert rules and what they drive (see conf/alerts.yaml and docs/runbooks/)."""

    enabled: bool = True
    rules_file: str = "conf/alerts.yaml"
    # Alerts at or above this severity in the latest window make the run exit with code 3.
    exit_severity: Literal["info", "low", "medium", "high", "critical"] = "high"
    # POST new alerts as JSON here (empty: no webhook). Keep the URL in an env var, not YAML.
    webhook_url: str | None = None


@dataclass(frozen=True)
class ReportSettings:
    """HTML monitoring report and model card."""

    enabled: bool = True
    title: str = "mlhops monitoring report"
    # Free text for the model card (intended use and limitations are the clinical owner's words).
    intended_use: str = (
        "Decision support for care teams: flags adult inpatient and outpatient visits at raised "
        "risk so that follow-up can be planned. Not for use as the sole basis of a clinical decision."
    )
    limitations: str = (
        "Trained and monitored on the data of the deploying organisation only; performance on "
        "other populations is unknown. Labels arrive with a delay, so recent windows show "
        "estimated (CBPE) rather than realized performance."
    )
    owner: str = "clinical ML team"
    # Most recent windows shown in the drift-over-time plots.
    max_windows: int = 60


@dataclass(frozen=True)
class ChecklistSettings:
    """Organisational checklist items the system cannot evidence itself: a team records them here
    (who, when, reference); an empty value is shown as "not recorded"."""

    intended_use: str = ""
    target_population: str = ""
    inclusion_criteria: str = ""
    ethics_review: str = ""
    consent: str = ""
    clinical_sign_off: str = ""
    data_provenance: str = ""
    backup_and_recovery: str = ""
    ab_testing: str = ""
    governance_owner: str = ""


@dataclass(frozen=True)
class GovernanceSettings:
    """Governance records shown on the checklist page and the model card."""

    checklist: ChecklistSettings = field(default_factory=ChecklistSettings)
