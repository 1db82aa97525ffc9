"""One transfer-learning experiment, end to end: data, strategy, protocol, seeds, report.

An experiment trains with one strategy (frozen features + a classical head, or
full / staged / frozen fine-tuning, optionally after a cascade of pre-training
stages), evaluates it under one protocol (official split, cross-dataset, k-fold by
subject, leave-one-subject-out), repeats it over seeds, and reports every seed, the
mean ± std over seeds and the ensemble of the seeds (mean of their probabilities).
``affectkit train faces`` runs exactly this function. Protocol, seeds, folds, summary and
ensemble are the experiment runner's (:func:`affectkit.evaluation.runner.run`); this
module supplies the data, the training and the scoring of faces.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from affectkit.data.faceset import FaceSet
from affectkit.errors import reject_unknown
from affectkit.evaluation.evaluate import score_faces
from affectkit.evaluation.protocols import parse_protocol
from affectkit.evaluation.report import write_report
from affectkit.evaluation.runner import Prediction, run
from affectkit.expressions import EXPRESSIONS
from affectkit.io.write import write_json_atomic
from affectkit.training.finetune import FinetuneConfig

STRATEGIES = ("features", "full", "staged", "frozen")


@dataclass
class StageConfig:
    """One pre-training stage of a cascade (Ng et al. 2015: ImageNet -> FER -> target).

    Attributes
    ----------
    data : str
        ``KIND:PATH`` dataset spec (see :func:`affectkit.data.registry.load_dataset`).
    train_split : str
        Split(s) trained on, joined with ``+``. For FER-2013, ``train`` is Ng et al.'s
        FER28 (28,709 faces) and ``train+validation`` their FER32 (32,298 faces).
    val_split : str or None
        Split monitored to pick the best epoch.
    options : dict
        :class:`~affectkit.training.finetune.FinetuneConfig` fields that differ from
        the final stage's (e.g. ``epochs``, ``lr``).
    """

    data: str
    train_split: str = "train"
    val_split: str | None = None
    options: dict = field(default_factory=dict)


@dataclass
class MixConfig:
    """A dataset mixed into every training batch of an experiment.

    The default recipe trains on FER-2013 with 16 DiffusionFER faces (expression and
    valence/arousal) in every batch of 128 FER-2013 faces (Vielzeuf et al. 2018 learn
    classes and valence/arousal jointly).

    Attributes
    ----------
    data : str
        ``KIND:PATH`` dataset spec.
    split : str
        Split(s) drawn from, joined with ``+``.
    per_batch : int
        Faces of this dataset in every batch (besides ``batch_size`` of the main one).
    """

    data: str
    split: str = "train"
    per_batch: int = 16


def _entry(cls, value, what: str):
    """A ``pretrain``/``mix`` entry from a dict, refusing unknown keys in one line."""
    if not isinstance(value, dict):
        return value
    reject_unknown(value, [f.name for f in fields(cls)], what=f"{what} option")
    return cls(**value)


@dataclass
class ExperimentConfig:
    """Everything that defines an experiment; ``affectkit train faces`` options map 1:1.

    Attributes
    ----------
    data : str
        Training dataset, ``KIND:PATH``.
    out : str
        Output folder.
    strategy : {"features", "full", "staged", "frozen"}
    protocol : str
        ``split`` (train on ``train_split``, test on ``test_split`` of ``test_data``),
        ``kfold:K`` (K folds by subject) or ``loso`` (leave one subject out); the
        last two use ``train_split`` of ``data`` only.
    train_split, val_split, test_split : str or None
        Splits, each possibly ``a+b``; None or "" = none.
    test_data : str or None
        A different dataset to test on (cross-dataset protocol).
    seeds : list of int
    face_size : int
        Side, pixels, faces are loaded at.
    dedup : bool
        FER-2013: drop test/validation faces duplicated from earlier splits.
    max_train : int or None
        Train on a seeded random subset of this many faces.
    head, tap, input_size
        ``features`` strategy: head kind (:data:`affectkit.training.features.HEADS`;
        valence/arousal use ridge when the head is ``logistic``), backbone tap and
        backbone input side in pixels.
    tta : {"none", "flip", "multi"}
        Test-time augmentation of fine-tuned models.
    pretrain : list of StageConfig
        Cascade stages run before the final fine-tuning, once per seed.
    mix : list of MixConfig
        Datasets mixed into every training batch (fine-tuning, ``split`` protocol);
        an epoch is one pass over ``data``.
    teachers : list of str
        Distillation (:mod:`affectkit.training.distill`): exported face models whose
        mean expression distribution (with ``tta``) on every training face, mixed
        faces included, becomes its soft target, blended with the face's label by
        ``train.soft_weight``. Turns ``train.soft_targets`` on; fine-tuning only.
    train : FinetuneConfig
        Backbone, task, optimiser and schedule (also used by ``features``: backbone,
        task, pretrained, weights).
    """

    data: str
    out: str
    strategy: str = "full"
    protocol: str = "split"
    train_split: str = "train"
    val_split: str | None = "validation"
    test_split: str | None = "test"
    test_data: str | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    face_size: int = 48
    dedup: bool = False
    max_train: int | None = None
    head: str = "logistic"
    tap: str = "penultimate"
    input_size: int | None = None
    tta: str = "flip"
    pretrain: list[StageConfig] = field(default_factory=list)
    mix: list[MixConfig] = field(default_factory=list)
    teachers: list[str] = field(default_factory=list)
    train: FinetuneConfig = field(default_factory=FinetuneConfig)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if not (isinstance(self.face_size, int) and 16 <= self.face_size <= 1024):
            raise ValueError(f"face_size must be a whole number of pixels from 16 to 1024, got {self.face_size!r}")
        self.protocol = str(parse_protocol(self.protocol))  # ProtocolError (a ValueError), one line
        if isinstance(self.train, dict):
            self.train = FinetuneConfig.from_dict(self.train)
        self.pretrain = [_entry(StageConfig, s, "pretrain") for s in self.pretrain]
        self.mix = [_entry(MixConfig, m, "mix") for m in self.mix]
        if self.mix and (self.strategy == "features" or self.protocol != "split" or self.max_train):
            raise ValueError("mix works with fine-tuning under the split protocol, without max_train")
        if self.teachers:
            if self.strategy == "features":
                raise ValueError("teachers (distillation) work with fine-tuning, not the features strategy")
            from affectkit.models.preprocess import BUNDLED

            # Checked before any training starts: a missing teacher would fail a run hours in.
            missing = [t for t in self.teachers if str(t) not in BUNDLED and not Path(t).is_file()]
            if missing:
                raise ValueError(f"{missing[0]}: teacher model file not found")
            self.train.soft_targets = True

    @classmethod
    def from_dict(cls, d: dict) -> "ExperimentConfig":
        """Build from a dict (e.g. YAML); ``FinetuneConfig`` fields may sit at top level.

        Raises
        ------
        ValueError
            For an option that is neither an experiment nor a training option.
        """
        mine = {f.name for f in fields(cls)}
        train = dict(d.get("train", {}))
        top = {}
        for k, v in d.items():
            if k == "train":
                continue
            (top if k in mine else train)[k] = v
        return cls(**top, train=FinetuneConfig.from_dict(train))


def load_splits(spec: str, splits: str | None, *, size: int, dedup: bool = False) -> FaceSet | None:
    """Load ``a+b`` splits of dataset ``spec`` as one grey :class:`FaceSet` (None for none)."""
    from affectkit.data.registry import load_dataset

    if not splits:
        return None
    parts = [load_dataset(spec, s, size=size, grey=True, dedup=dedup and s != "train") for s in splits.split("+")]
    return parts[0] if len(parts) == 1 else FaceSet.concat(parts)


def _full_proba(proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
    full = np.zeros((len(proba), len(EXPRESSIONS)), np.float32)
    full[:, classes] = proba
    return full


class _Runner:
    """Trains and predicts for one seed: ``runner(train_idx, test_idx, fold, val)`` per fold."""

    def __init__(self, cfg: ExperimentConfig, seed: int, pool: FaceSet, out_dir: Path, progress: bool, command: str = "",
                 part_sizes: list[int] | None = None):
        self.cfg, self.seed, self.pool, self.out_dir, self.progress = cfg, seed, pool, out_dir, progress
        self.part_sizes = part_sizes
        self.command = command
        self._features = None
        self._pretrained: Path | None = None

    def features(self) -> np.ndarray:
        from affectkit.paths import cache_dir
        from affectkit.training.features import extract_features

        if self._features is None:
            from affectkit.models.backbones import REGISTRY

            t = self.cfg.train
            # Extract every named tap in the same pass: the cache then serves other taps' experiments.
            named = REGISTRY[t.backbone].tap_names if t.backbone in REGISTRY else ()
            taps = list(named) if self.cfg.tap in named else [self.cfg.tap]
            self._features = extract_features(
                self.pool, t.backbone, taps, input_size=self.cfg.input_size,
                pretrained=t.pretrained, weights=t.weights, cache=cache_dir() / "features", progress=self.progress,
            )[self.cfg.tap]
        return self._features

    def __call__(self, tr: np.ndarray, te: np.ndarray, fold: int = 0, val: FaceSet | None = None) -> dict:
        if self.cfg.strategy == "features":
            return self._features_head(tr, te)
        return self._finetune(tr, te, fold, val)

    def _features_head(self, tr, te) -> dict:
        from affectkit.training.features import fit_predict_head

        x = self.features()
        task, out = self.cfg.train.task, {}
        if task in ("classes", "multitask"):
            lab = tr[self.pool.labels[tr] >= 0]
            res = fit_predict_head(self.cfg.head, "classes", x[lab], self.pool.labels[lab], x[te], self.seed)
            out["pred"] = res["pred"]
            if "proba" in res:
                out["proba"] = _full_proba(res["proba"], res["classes"])
        if task in ("va", "multitask"):
            has = tr[np.isfinite(self.pool.va[tr]).all(1)]
            # Logistic regression cannot regress: its linear counterpart (ridge) does.
            kind = "linear" if self.cfg.head == "logistic" else self.cfg.head
            out["va"] = fit_predict_head(kind, "va", x[has], self.pool.va[has], x[te], self.seed)["va"]
        return out

    def _finetune(self, tr, te, fold, val) -> dict:
        from affectkit.models.recognizer import Recognizer
        from affectkit.training.distill import teacher_distribution, teacher_records
        from affectkit.training.finetune import finetune

        run_dir = self.out_dir / (f"fold_{fold + 1}" if parse_protocol(self.cfg.protocol).by_subject else "model")
        train_cfg = FinetuneConfig(**{**asdict(self.cfg.train), "strategy": self.cfg.strategy, "seed": self.seed})
        if self.cfg.pretrain and self._pretrained is None:
            # Once per seed, shared by the folds: the stages use other data than the target.
            self._pretrained = cascade(self.cfg.pretrain, train_cfg, self.out_dir / "pretrain",
                                       size=self.cfg.face_size, progress=self.progress)
        if self._pretrained is not None:
            train_cfg.init_from = str(self._pretrained)
        train = self.pool.subset(tr)
        if self.cfg.teachers:
            train.soft = teacher_distribution(self.cfg.teachers, train, tta=self.cfg.tta)
        if self.cfg.mix:
            train.meta["part_sizes"] = self.part_sizes
            train_cfg.mix_batch = [train_cfg.batch_size] + [m.per_batch for m in self.cfg.mix]
        model = finetune(train, run_dir, train_cfg, val=val, progress=self.progress,
                         recipe={"command": self.command, "experiment": self.cfg.out,
                                 "mix": [asdict(m) for m in self.cfg.mix],
                                 **({"teachers": teacher_records(self.cfg.teachers)} if self.cfg.teachers else {})})
        proba, va = Recognizer(model, tta=self.cfg.tta).predict_arrays(self.pool.images[te])
        return {"proba": proba, "va": va, "model": str(model)}


def cascade(stages: list[StageConfig], final: FinetuneConfig, out_dir: str | Path, *, size: int = 48,
            progress: bool = False) -> Path:
    """Run pre-training stages in order, each starting from the previous model.

    The first stage starts from ``final``'s ImageNet backbone (or its ``init_from``);
    each stage uses ``final``'s options overridden by its own ``options``.

    Returns
    -------
    Path
        The last stage's exported model, to pass as ``init_from`` to the target stage.

    Raises
    ------
    DataError
        If a stage's dataset is missing.
    """
    from affectkit.training.finetune import finetune

    init = final.init_from
    path = None
    for i, stage in enumerate(stages, 1):
        cfg = FinetuneConfig(**{**asdict(final), "strategy": "full", "init_from": init, **stage.options})
        train = load_splits(stage.data, stage.train_split, size=size)
        val = load_splits(stage.data, stage.val_split, size=size)
        path = finetune(train, Path(out_dir) / f"stage_{i}", cfg, val=val, progress=progress,
                        recipe={"cascade_stage": asdict(stage)})
        init = str(path)
    return path


def check_model_files(cfg: ExperimentConfig) -> None:
    """Check the model files an experiment starts from, before it writes or trains anything.

    ``train.init_from`` must be a loadable face model; ``train.weights``, when the
    backbone starts from it, must be readable ImageNet weights of ``train.backbone``.

    Raises
    ------
    WeightsError
        One line naming the bad file.
    ValueError
        ``init_from``'s backbone differs from ``train.backbone``.
    """
    from affectkit.models.backbones import pretrained_state
    from affectkit.models.card import load_model

    t = cfg.train
    if t.init_from and cfg.strategy != "features":
        net, card = load_model(t.init_from)
        if card["architecture"]["backbone"] != t.backbone:
            raise ValueError(f"{t.init_from}: backbone {card['architecture']['backbone']} != {t.backbone}")
        del net
    # ImageNet weights are used unless an exported model is the start (see FinetuneConfig).
    if t.weights and t.pretrained and (cfg.strategy == "features" or not t.init_from):
        pretrained_state(t.backbone, t.weights)


def run_experiment(cfg: ExperimentConfig, *, progress: bool = False, command: str = "") -> dict:
    """Run an experiment over all seeds and write its report into ``cfg.out``.

    Returns
    -------
    dict
        ``config``, ``command``, ``seeds`` (per-seed reports; with
        ``kfold``/``loso`` the pooled out-of-fold report and ``folds``, mean ± std over
        the folds), ``summary`` (mean ± std over seeds, see
        :func:`~affectkit.evaluation.protocols.summarize_seeds`), ``ensemble`` (the
        report of the seeds' mean probabilities and valence/arousal, for more than one
        seed on the same faces) and ``pooled`` (the headline: the ensemble, else the
        first seed): :meth:`~affectkit.evaluation.runner.Report.to_dict`. Also written
        as ``report.json``, ``report.md`` and ``confusion.png`` in ``cfg.out``, then
        ``experiment.json`` (the config), only once the run has succeeded.

    Raises
    ------
    DataError
        Missing or malformed dataset.
    WeightsError
        No pretrained weights for the backbone, or a bad ``init_from`` or ``weights``
        file (checked first, see :func:`check_model_files`).
    ValueError
        Inconsistent options (e.g. a subject protocol on data without subjects).
    """
    out = Path(cfg.out)
    protocol = parse_protocol(cfg.protocol)
    check_model_files(cfg)
    train = load_splits(cfg.data, cfg.train_split, size=cfg.face_size)
    if train is None:
        raise ValueError("train_split is empty")
    part_sizes = None
    if cfg.mix:
        parts = [train] + [load_splits(m.data, m.split, size=cfg.face_size) for m in cfg.mix]
        part_sizes = [len(p) for p in parts]
        train = FaceSet.concat(parts)
    if protocol.kind == "split":
        test = load_splits(cfg.test_data or cfg.data, cfg.test_split, size=cfg.face_size, dedup=cfg.dedup)
        if test is None:
            raise ValueError("the split protocol needs a test split")
        val = load_splits(cfg.data, cfg.val_split, size=cfg.face_size) if cfg.strategy != "features" else None
        # One pool for every seed, so frozen features are extracted (and cached) once.
        pool, split = FaceSet.concat([train, test]), (np.arange(len(train)), np.arange(len(train), len(train) + len(test)))
    else:
        if not any(train.subjects):
            raise ValueError(f"{cfg.data}: protocol {cfg.protocol} needs subject ids, and this dataset has none")
        pool, split, val = train, None, None

    out.mkdir(parents=True, exist_ok=True)
    runners: dict[int, _Runner] = {}

    def fit_predict(tr: np.ndarray, te: np.ndarray, seed: int, fold: int) -> Prediction:
        if seed not in runners:  # one per seed: features and the pre-training cascade are shared by its folds
            runners[seed] = _Runner(cfg, seed, pool, out / f"seed_{seed}", progress, command, part_sizes)
        res = runners[seed](tr, te, fold, val)
        return Prediction(proba=res.get("proba"), pred=res.get("pred"), va=res.get("va"), y_true=pool.labels[te])

    def score(p: Prediction) -> dict:
        return score_faces(p.outputs(), pool.labels[p.index], pool.va[p.index])

    report = run(protocol, cfg.seeds, fit_predict, score, groups=None if split else np.asarray(pool.subjects),
                 split=split, max_train=cfg.max_train, config=asdict(cfg), extra={"command": command}).to_dict()
    write_report(report, out, title=f"{cfg.strategy} {cfg.train.backbone} on {cfg.data} ({cfg.protocol})")
    # Written last, and atomically: a failed run leaves no experiment.json claiming a
    # run that has no report, and keeps the one of an earlier successful run.
    write_json_atomic(out / "experiment.json", json.loads(json.dumps(asdict(cfg), default=str)))
    return report
