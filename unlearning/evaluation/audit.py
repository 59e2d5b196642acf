"""Is it really gone? Measures that tell forgetting from hiding, each read against retraining.

A_F (the forgotten classes' test accuracy) cannot tell an edit of the outputs from a class that
left the network. These can:

- **recoverability** (``probe``): a k-shot linear probe on the penultimate features (the classifier
  layer's input). It sees a fixed number of each retained class's training images and only k per forgotten class
  (standardised features, multinomial logistic regression, several draws); its accuracy on the
  forgotten classes' held-out images says how much of the class a few labelled images bring back.
  A full-data probe (every training image) is kept for the record: on digits, features learnt
  without a class still separate it, so it does not tell hiding from forgetting.
- **relearning** (``relearn``): plain fine-tuning on a small mix of forgotten and retained training
  images, counting steps until the forgotten classes' test accuracy passes 50 % and 90 % of the
  original's; the whole curve is kept (a row pushed far negative can be slow to 50 % and still be
  all there).
- **membership inference** (``svc_mia``): the confidence-based SVC attack as SalUn reports it
  ("MIA efficacy": the share of forget samples called non-members); the entropy attack is in
  ``privacy``.
- **representation change** (``layer_cka``): linear CKA per layer between two models' activations.

``depth_check`` runs the probe at every depth and relearning on an original, an unlearned and (when there
is one) a retrained model and gives the one ``DepthVerdict``: not forgotten, hidden, partly forgotten or
forgotten; ``evaluation.run_audit`` adds the attacks and CKA for the audit page. Probes are fitted
on training features and read on the held-out test split; nothing is tuned on it.
"""
from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from ..data import ImageTensors, Splits, to_floats
from ..device import pick_device
from ..layers import layer_outputs, penultimate
from ..stages import PENULTIMATE, stage_features
from .metrics import FORGOTTEN_AT_MOST, RETAIN_DROP_AT_MOST, predict
from ..storage.strict_json import finite

DEPTH_MARGIN = 0.05  # recoverability within 5 points of the retrained model's counts as forgotten
HIDDEN_SHARE = 0.5  # less than half of the original-to-retrained probe gap closed: hidden
# The Anamnesis Index: relearning steps to 50 % of the original's A_F, the unlearned model's over the retrained
# model's. Below this the class comes back clearly faster than it would to a model that never saw it.
ANAMNESIS_AT_LEAST = 0.8
# Every audit reads a bounded, seeded, stratified sample of each split (``audit_sample``), so a 60,000-image
# model costs what a 5,000-image one does, and the k-shot probe is balanced: beside the k images of each
# forgotten class it sees PROBE_RETAIN_PER_CLASS of each retained class, never all of them (at 48,600
# retained images against 10 the probe never predicted the forgotten class, even from the original).
# 50 a retained class against 10 forgotten: with 100 the original MLP's Fashion-MNIST features gave back
# 23-40 % of classes it recognised at 75-85 %; with 10 (fully balanced) digits retrained without the
# class came back as well as from the original (0.96 against 0.99), so the probe told nothing.
AUDIT_TRAIN_PER_CLASS = 200
AUDIT_VAL_PER_CLASS = 50
AUDIT_TEST_PER_CLASS = 200
PROBE_RETAIN_PER_CLASS = 50
PROBE_MAX_DIMS = 64  # wider features (the MLP's 1,000) are first reduced by PCA on the probe's own images
AUDIT_SEED = 0


# ---------------------------------------------------------------------------------------------
# Recoverability: the k-shot probe


@dataclass(frozen=True)
class ProbeResult:
    """A linear probe's accuracy on the forgotten classes (mean and spread over draws), per split."""

    k: int | None  # labelled images per forgotten class; None: the full-data probe
    forget_val: float
    forget_test: float
    spread_test: float  # standard deviation over draws
    retain_test: float
    draws: int


def audit_sample(splits: Splits, seed: int = AUDIT_SEED) -> Splits:
    """At most ``AUDIT_*_PER_CLASS`` images of each class from each split, drawn with ``seed`` (the same
    every time); a split already that small is kept whole and in order."""
    from dataclasses import replace

    from ..data import sample_per_class

    return replace(splits, train=sample_per_class(splits.train, AUDIT_TRAIN_PER_CLASS, seed),
                   val=sample_per_class(splits.val, AUDIT_VAL_PER_CLASS, seed),
                   test=sample_per_class(splits.test, AUDIT_TEST_PER_CLASS, seed))


def _features(model: nn.Module, ds: ImageTensors, device: torch.device) -> np.ndarray:
    return penultimate(model, to_floats(ds.images), device).numpy().astype(np.float64)


@dataclass(frozen=True)
class FeatureSet:
    """Penultimate features of one model on the three splits (computed once, probed many times)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    y_train: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray


def feature_set(model: nn.Module, splits: Splits, device: str | torch.device | None = None) -> FeatureSet:
    """Penultimate features on the audit sample of each split (``audit_sample``)."""
    dev = pick_device(device)
    splits = audit_sample(splits)
    return FeatureSet(_features(model, splits.train, dev), _features(model, splits.val, dev),
                      _features(model, splits.test, dev), splits.train.labels.numpy(), splits.val.labels.numpy(),
                      splits.test.labels.numpy())


def stage_feature_sets(model: nn.Module, splits: Splits, device: str | torch.device | None = None
                       ) -> dict[str, FeatureSet]:
    """``feature_set`` at every stage (``stages.stage_names``), from one forward pass per split over the
    audit sample; the "penultimate" entry is ``feature_set``'s features."""
    dev = pick_device(device)
    splits = audit_sample(splits)
    per = {name: stage_features(model, to_floats(getattr(splits, name).images), dev) for name in ("train", "val", "test")}
    y = (splits.train.labels.numpy(), splits.val.labels.numpy(), splits.test.labels.numpy())
    return {stage: FeatureSet(*(per[n][stage].numpy().astype(np.float64) for n in ("train", "val", "test")), *y)
            for stage in per["test"]}


def probe(fs: FeatureSet, forget_classes: Sequence[int], k: int | None = 10, draws: int = 3,
          seed: int = 0, retain_per_class: int = PROBE_RETAIN_PER_CLASS) -> ProbeResult:
    """Fit ``draws`` probes, each on ``retain_per_class`` training features of every retained class and k
    of every forgotten class (a balanced design: the same at any dataset size); score them on held-out
    features. ``k=None``: the full-data probe, every training feature at hand."""
    from threadpoolctl import threadpool_limits

    forget = np.asarray(sorted(set(int(c) for c in forget_classes)))
    rng = np.random.default_rng(seed)
    scores = {"val": [], "test": [], "retain": []}
    # One BLAS thread: these matrices are a few hundred rows, and on 2 shared cores the threads' hand-offs cost
    # more than the work (an SVD of 460 x 784: 0.08 s on one thread, 0.3-1.0 s on two under load).
    with threadpool_limits(1):
        return _probe_draws(fs, forget, k, draws, rng, retain_per_class, scores)


def _probe_draws(fs: FeatureSet, forget: np.ndarray, k: int | None, draws: int, rng: np.random.Generator,
                 retain_per_class: int, scores: dict[str, list[float]]) -> ProbeResult:
    from sklearn.decomposition import PCA
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    for _ in range(1 if k is None else draws):
        parts = []
        for c in np.unique(fs.y_train):
            pool = np.flatnonzero(fs.y_train == c)
            n = len(pool) if k is None else (min(k, len(pool)) if c in forget else min(retain_per_class, len(pool)))
            parts.append(pool if n == len(pool) else rng.choice(pool, size=n, replace=False))
        idx = np.concatenate(parts)
        steps = [StandardScaler()]
        if fs.train.shape[1] > PROBE_MAX_DIMS:
            steps.append(PCA(PROBE_MAX_DIMS, random_state=0))
        clf = make_pipeline(*steps, LogisticRegression(max_iter=300, C=1.0))
        with warnings.catch_warnings():  # lbfgs may stop at max_iter on separable few-shot data: a bound, not an error
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(fs.train[idx], fs.y_train[idx])
        for name, x, y in (("val", fs.val, fs.y_val), ("test", fs.test, fs.y_test)):
            pred = clf.predict(x)
            mask = np.isin(y, forget)
            scores[name].append(float((pred[mask] == y[mask]).mean()) if mask.any() else float("nan"))
            if name == "test":
                scores["retain"].append(float((pred[~mask] == y[~mask]).mean()))
    return ProbeResult(k, float(np.mean(scores["val"])), float(np.mean(scores["test"])),
                       float(np.std(scores["test"])), float(np.mean(scores["retain"])), len(scores["test"]))


# ---------------------------------------------------------------------------------------------
# Relearning


@dataclass(frozen=True)
class RelearnSettings:
    """Plain fine-tuning on a small mix of training images (written into every result).

    Train mode (batch norm as in training), as many images of each retained class as of each
    forgotten one, so that the batches look like the training data; gradients clipped to norm
    ``clip`` so that no model diverges on a step.
    """

    forget_per_class: int = 20
    retain_per_class: int = 20
    lr: float = 0.01
    momentum: float = 0.9
    batch_size: int = 64
    clip: float = 5.0
    max_steps: int = 60
    eval_every: int = 3
    seed: int = 0


@dataclass(frozen=True)
class RelearnCurve:
    """Forgotten-class test accuracy after each ``eval_every`` steps of relearning."""

    steps: tuple[int, ...]
    forget_accuracy: tuple[float, ...]
    target: float  # the original model's forgotten-class test accuracy
    steps_to_50: int | None  # first step at which accuracy >= 50 % of target (None: not within max_steps)
    steps_to_90: int | None
    settings: RelearnSettings


def _first_step(steps: Sequence[int], acc: Sequence[float], level: float) -> int | None:
    return next((s for s, a in zip(steps, acc) if a >= level), None)


def relearn(model: nn.Module, splits: Splits, forget_classes: Sequence[int], target: float,
            settings: RelearnSettings = RelearnSettings(), device: str | torch.device | None = None,
            should_stop: Callable[[], bool] | None = None, until: float | None = None) -> RelearnCurve:
    """Fine-tune a copy of ``model`` on a few forgotten and retained images; the curve of its forgotten A_F
    (read on the audit sample of the test split). With ``until``, stop once A_F reaches that share of
    ``target`` (0.5: all the Anamnesis Index needs; the curve, and ``steps_to_90``, end there)."""
    dev = pick_device(device)
    splits = audit_sample(splits)
    s = settings
    forget = sorted(set(int(c) for c in forget_classes))
    gen = torch.Generator().manual_seed(s.seed)
    labels = splits.train.labels
    idx = []
    for c in torch.unique(labels).tolist():
        pool = torch.nonzero(labels == c).flatten()
        n = s.forget_per_class if c in forget else s.retain_per_class
        idx.append(pool[torch.randperm(len(pool), generator=gen)[:n]])
    idx = torch.cat(idx)
    x = to_floats(splits.train.images[idx]).to(dev)
    y = labels[idx].to(dev)
    test_mask = torch.isin(splits.test.labels, torch.tensor(forget))
    x_test = to_floats(splits.test.images[test_mask]).to(dev)
    y_test = splits.test.labels[test_mask].to(dev)
    work = copy.deepcopy(model).to(dev)
    opt = torch.optim.SGD(work.parameters(), lr=s.lr, momentum=s.momentum)

    def forgotten_accuracy() -> float:
        work.eval()
        with torch.no_grad():
            hits = sum(int((work(x_test[i:i + 256]).argmax(1) == y_test[i:i + 256]).sum())
                       for i in range(0, len(y_test), 256))
        return hits / max(len(y_test), 1)

    steps, acc = [0], [forgotten_accuracy()]
    step = 0
    while step < s.max_steps and (until is None or acc[-1] < until * target):
        for batch in torch.randperm(len(y), generator=gen).split(s.batch_size):
            if should_stop is not None and should_stop():
                raise InterruptedError("relearning was stopped")
            work.train()
            opt.zero_grad(set_to_none=True)
            b = batch.to(dev)
            nn.functional.cross_entropy(work(x[b]), y[b]).backward()
            nn.utils.clip_grad_norm_(work.parameters(), s.clip)
            opt.step()
            step += 1
            if step % s.eval_every == 0:
                steps.append(step)
                acc.append(forgotten_accuracy())
                if until is not None and acc[-1] >= until * target:
                    break
            if step >= s.max_steps:
                break
    return RelearnCurve(tuple(steps), tuple(acc), target, _first_step(steps, acc, 0.5 * target),
                        _first_step(steps, acc, 0.9 * target), s)


# ---------------------------------------------------------------------------------------------
# Membership inference (SalUn's confidence SVC)


def svc_mia(model: nn.Module, splits: Splits, forget_classes: Sequence[int],
            device: str | torch.device | None = None, seed: int = 0) -> float:
    """MIA efficacy: the share of forget-class training samples an SVC on true-label confidence calls
    non-members (trained on retained training samples as members, test samples as non-members).
    Higher means more forgotten; read it beside the retrained model's value. Reads the audit sample."""
    splits = audit_sample(splits)
    logits, labels = predict(model, splits.train, device)
    t_logits, t_labels = predict(model, splits.test, device)
    return svc_mia_from_logits(logits, labels, t_logits, t_labels, forget_classes, seed)


def svc_mia_from_logits(logits: torch.Tensor, labels: torch.Tensor, t_logits: torch.Tensor, t_labels: torch.Tensor,
                        forget_classes: Sequence[int], seed: int = 0) -> float:
    """``svc_mia`` from the training and test logits already at hand (one forward pass serves several audits)."""
    from sklearn.svm import SVC

    forget = torch.tensor(sorted(set(int(c) for c in forget_classes)))
    conf = torch.softmax(logits.double(), 1).gather(1, labels.view(-1, 1)).flatten().numpy()
    t_conf = torch.softmax(t_logits.double(), 1).gather(1, t_labels.view(-1, 1)).flatten().numpy()
    is_f = torch.isin(labels, forget).numpy()
    rng = np.random.default_rng(seed)
    members = conf[~is_f]
    members = members[rng.choice(len(members), size=min(len(members), len(t_conf)), replace=False)]
    x = np.concatenate([members, t_conf]).reshape(-1, 1)
    y = np.concatenate([np.ones(len(members)), np.zeros(len(t_conf))])
    clf = SVC(C=3, gamma="auto", kernel="rbf").fit(x, y)
    return float(1.0 - clf.predict(conf[is_f].reshape(-1, 1)).mean())


# ---------------------------------------------------------------------------------------------
# Representation change: linear CKA


def linear_cka(a: torch.Tensor, b: torch.Tensor) -> float:
    """Linear CKA of two activation matrices [N, d1], [N, d2] (Kornblith et al., 2019); 1 = same up to rotation."""
    a = a.double().flatten(1)
    b = b.double().flatten(1)
    a = a - a.mean(0)
    b = b - b.mean(0)
    ka, kb = a @ a.T, b @ b.T
    hsic = (ka * kb).sum()
    denom = torch.sqrt((ka * ka).sum() * (kb * kb).sum())
    return float(hsic / denom) if float(denom) > 0 else float("nan")


def layer_cka(model_a: nn.Module, model_b: nn.Module, images: torch.Tensor,
              device: str | torch.device | None = None) -> dict[str, float]:
    """Linear CKA per layer (``layers.layer_outputs``) between two models of one architecture."""
    acts_a = layer_outputs(model_a, images, device)
    acts_b = layer_outputs(model_b, images, device)
    return {name: linear_cka(acts_a[name], acts_b[name]) for name in acts_a}


# ---------------------------------------------------------------------------------------------
# The audit and its verdict


@dataclass(frozen=True)
class DepthVerdict:
    """Which one happened, in plain words, with the thresholds it used."""

    level: str  # "not forgotten", "hidden", "partly forgotten", "forgotten", "never recognised"
    message: str
    success: bool  # only "forgotten" is shown in the colours of success
    thresholds: dict[str, float] = field(default_factory=dict)
    worst_depth: str | None = None  # the stage the probe figures in the message come from


@dataclass(frozen=True)
class DepthProfile:
    """The k-shot recoverability of the forgotten classes at each stage, input side first (``stages``)."""

    stages: tuple[str, ...]
    original: tuple[float, ...]
    unlearned: tuple[float, ...]
    retrained: tuple[float, ...] | None  # None: no retrained reference at hand

    def worst(self) -> int:
        """Index of the stage where the unlearned model keeps most above the retrained one (without a
        reference: the least of the original's recoverability removed, for display only); the last stage on ties."""
        gaps = ([u - r for u, r in zip(self.unlearned, self.retrained)] if self.retrained is not None
                else [u - o for u, o in zip(self.unlearned, self.original)])
        # a stage where all three models agree exactly (the MLP's input pixels) tells nothing: not a candidate
        same = [self.retrained is not None and self.original[i] == self.unlearned[i] == self.retrained[i]
                for i in range(len(gaps))]
        candidates = [i for i in range(len(gaps)) if not same[i]] or list(range(len(gaps)))
        return max(candidates, key=lambda i: (round(gaps[i], 9), i))


@dataclass(frozen=True)
class Anamnesis:
    """How fast the class comes back: relearning steps to 50 % of the original's A_F, and their ratio."""

    unlearned_steps: int | None  # None: not reached within ``max_steps``
    retrained_steps: int | None
    max_steps: int

    @property
    def index(self) -> float | None:
        """Unlearned steps over retrained steps (1: as slow as a model that never saw the class). A count not
        reached within the budget is taken as ``max_steps`` + 1, a lower bound; both unreached: 1."""
        u = self.unlearned_steps if self.unlearned_steps is not None else self.max_steps + 1
        r = self.retrained_steps if self.retrained_steps is not None else self.max_steps + 1
        return u / r if r > 0 else None  # a retrained model that is already there: no ratio


def anamnesis(unlearned: RelearnCurve, retrained: RelearnCurve) -> Anamnesis:
    """The Anamnesis Index from two relearning curves run with the same settings."""
    return Anamnesis(unlearned.steps_to_50, retrained.steps_to_50, unlearned.settings.max_steps)


def depth_verdict(forget_accuracy: float, probe_original: float, probe_unlearned: float,
                  probe_retrained: float | None, original_accuracy: float | None = None,
                  margin: float = DEPTH_MARGIN, features_changed: bool = True,
                  retain_drop: float | None = None, profile: DepthProfile | None = None,
                  anamnesis_index: float | None = None) -> DepthVerdict:
    """The one depth verdict: outputs first (A_F), then recoverability at the worst depth against the
    original and the retrained model, then how fast the class comes back.

    With a ``profile`` and a reference the probe figures are those of its worst stage
    (``DepthProfile.worst``), else the penultimate figures given (without a reference a lower stage
    cannot be judged: a stage the method left alone keeps the original's figure whether or not a
    retrained model would have it too, and the input pixels are everyone's). Forgotten: recoverability at most ``margin`` above the retrained model's
    at that depth, and an Anamnesis Index of at least ``ANAMNESIS_AT_LEAST`` when one is given (else
    "partly forgotten"). Hidden: the features are the original's bit for bit, or less than
    ``HIDDEN_SHARE`` of the way from the original's recoverability to the retrained one's. Without a
    reference, "hidden" when the probe recovers the class within ``margin`` of the original, else the
    depth is unknown. All figures are 10-shot probe accuracies on the forgotten classes' held-out test images.
    """
    th = {"outputs_at_most": FORGOTTEN_AT_MOST, "margin": margin, "hidden_share": HIDDEN_SHARE,
          "anamnesis_at_least": ANAMNESIS_AT_LEAST}
    where, at = None, ""
    if profile is not None and profile.stages and profile.retrained is not None:
        i = profile.worst()
        where = profile.stages[i]
        probe_original, probe_unlearned = profile.original[i], profile.unlearned[i]
        probe_retrained = profile.retrained[i] if profile.retrained is not None else None
        at = f" at the worst of {len(profile.stages)} depths ({where})"
    if original_accuracy is not None and original_accuracy <= FORGOTTEN_AT_MOST:
        return DepthVerdict("never recognised", f"The original model never recognised these classes "
                            f"({original_accuracy:.1%} test accuracy): there was nothing to forget.", False, th, where)
    if forget_accuracy > FORGOTTEN_AT_MOST:
        return DepthVerdict("not forgotten", f"Not forgotten: the model still recognises {forget_accuracy:.1%} of "
                            f"the forgotten classes' test images.", False, th, where)
    ref = "" if probe_retrained is None else f", retrained without them {probe_retrained:.0%}"
    numbers = (f"{at.strip() + ', ' if at else ''}a linear probe given 10 labelled images per class recovers "
               f"{probe_unlearned:.0%} of them from the features (original {probe_original:.0%}{ref})")
    if anamnesis_index is not None:
        th["anamnesis_index"] = anamnesis_index
        numbers += f"; Anamnesis Index {anamnesis_index:.2f} (at least {ANAMNESIS_AT_LEAST:.1f} is as slow as retraining)"

    def verdict(level: str, message: str, success: bool = False) -> DepthVerdict:
        return DepthVerdict(level, message, success, th, where)

    if not features_changed:
        return verdict("hidden", f"Hidden, not gone: only the outputs changed; the features are the original's "
                       f"bit for bit, and {numbers}.")
    if probe_retrained is None or not math.isfinite(probe_retrained):
        if probe_unlearned >= probe_original - margin:
            return verdict("hidden", f"Hidden, not gone: the outputs no longer predict the class, but {numbers}.")
        return verdict("unknown depth", f"The outputs forgot and the features changed: {numbers}. Without a "
                       f"model retrained without these classes, how deep that goes is unknown.")
    th["forgotten_at_most"] = probe_retrained + margin
    gap = probe_original - probe_retrained
    closed = (probe_original - probe_unlearned) / gap if gap > 1e-9 else 1.0
    th["closed"] = closed
    if probe_unlearned <= probe_retrained + margin:
        if anamnesis_index is not None and anamnesis_index < ANAMNESIS_AT_LEAST:
            return verdict("partly forgotten", f"Partly forgotten: no probe finds more than in the retrained model, "
                           f"but the class comes back faster than it would to a model that never saw it: {numbers}.")
        if retain_drop is not None and retain_drop > RETAIN_DROP_AT_MOST:  # deep, but the rest paid for it
            return verdict("forgotten", f"Forgotten, as deep as retraining, but at a cost: the remaining classes "
                           f"lost {100 * retain_drop:.1f} points; {numbers}.")
        return verdict("forgotten", f"Forgotten, as deep as retraining: {numbers}.", True)
    if closed < HIDDEN_SHARE:
        return verdict("hidden", f"Hidden, not gone: the outputs no longer predict the class, but {numbers}.")
    return verdict("partly forgotten", f"Partly forgotten: {numbers}; {closed:.0%} of the way from the original "
                   f"to retraining.")


def _plain(o):
    """Strict-JSON-ready (``strict_json.finite``) with string keys, as a JSON round trip gives them."""
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    return finite(o)


# ---------------------------------------------------------------------------------------------
# The quick depth check every result carries (CLI, app, report): the 10-shot probe only


@dataclass(frozen=True)
class DepthCheck:
    """The 10-shot recoverability of the original, unlearned and retrained models at every depth, the
    Anamnesis Index, and the one verdict on them. ``probe_*`` are the penultimate figures (the headline probe)."""

    probe_original: float
    probe_unlearned: float
    probe_retrained: float | None  # None: no retrained reference at hand
    reference: str  # "shipped", "cache", "trained" or "none"
    features_changed: bool  # False: the penultimate features are the original's, bit for bit
    verdict: DepthVerdict
    profile: DepthProfile | None = None
    anamnesis: Anamnesis | None = None  # None: no reference, or relearning not run

    def rows(self) -> list[dict]:
        """One row per depth, input side first: the three models' recoverability in percent and the unlearned
        model's points above the retrained one's (what the CLI, the report and the app's table show)."""
        p = self.profile
        if p is None:
            return []
        out = []
        for i, name in enumerate(p.stages):
            r = None if p.retrained is None else p.retrained[i]
            out.append({"depth": name, "original %": _pct(p.original[i]), "unlearned %": _pct(p.unlearned[i]),
                        "retrained %": _pct(r), "above retrained (points)": None if r is None else
                        round(100 * (p.unlearned[i] - r), 1)})
        return out

    def to_dict(self) -> dict:
        d = _plain(asdict(self))
        d["anamnesis_index"] = finite(self.anamnesis.index) if self.anamnesis is not None else None
        return d


def _pct(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(100.0 * float(x), 1)


def stage_probes(stages: dict[str, FeatureSet], forget_classes: Sequence[int], k: int = 10, draws: int = 3
                 ) -> dict[str, float]:
    """The k-shot probe's forgotten-class test accuracy at each stage (what a cache keeps per model)."""
    return {name: probe(fs, forget_classes, k=k, draws=draws).forget_test for name, fs in stages.items()}


def _same(a: FeatureSet, b: FeatureSet) -> bool:
    return np.array_equal(a.train, b.train) and np.array_equal(a.test, b.test)


def depth_check(original: nn.Module, unlearned: nn.Module, splits: Splits, forget_classes: Sequence[int],
                forget_accuracy: float, original_accuracy: float, retrained: nn.Module | None = None,
                reference: str = "none", device: str | torch.device | None = None, k: int = 10, draws: int = 3,
                retain_drop: float | None = None, original_stages: dict[str, FeatureSet] | None = None,
                retrained_stages: dict[str, FeatureSet] | None = None,
                original_probes: dict[str, float] | None = None, retrained_probes: dict[str, float] | None = None,
                with_relearn: bool = True, retrained_relearn: RelearnCurve | None = None,
                settings: RelearnSettings = RelearnSettings()) -> DepthCheck:
    """The k-shot probe at every stage of the three models, relearning of the unlearned and the retrained
    model (with a reference and ``with_relearn``), and ``depth_verdict`` on them: what the app, the CLI and
    the benchmarks all show. One forward pass per model and split over the audit sample serves every
    stage; pass a model's cached ``*_stages``, ``*_probes`` and ``retrained_relearn`` to skip its work."""
    forget = sorted(set(int(c) for c in forget_classes))
    so = original_stages or stage_feature_sets(original, splits, device)
    su = stage_feature_sets(unlearned, splits, device)
    po = original_probes or stage_probes(so, forget, k, draws)
    pu = {n: po[n] if _same(so[n], su[n]) else probe(su[n], forget, k=k, draws=draws).forget_test for n in su}
    pr = retrained_probes
    if pr is None and (retrained is not None or retrained_stages is not None):
        pr = stage_probes(retrained_stages or stage_feature_sets(retrained, splits, device), forget, k, draws)
    names = tuple(su)
    profile = DepthProfile(names, tuple(po[n] for n in names), tuple(pu[n] for n in names),
                           None if pr is None else tuple(pr[n] for n in names))
    amn = None
    if with_relearn and pr is not None and (retrained is not None or retrained_relearn is not None):
        r_curve = retrained_relearn or relearn(retrained, splits, forget, original_accuracy, settings, device)
        amn = anamnesis(relearn(unlearned, splits, forget, original_accuracy, settings, device, until=0.5), r_curve)
    changed = not _same(so[PENULTIMATE], su[PENULTIMATE])
    v = depth_verdict(forget_accuracy, po[PENULTIMATE], pu[PENULTIMATE], None if pr is None else pr[PENULTIMATE],
                      original_accuracy=original_accuracy, features_changed=changed, retain_drop=retain_drop,
                      profile=profile, anamnesis_index=None if amn is None else amn.index)
    return DepthCheck(po[PENULTIMATE], pu[PENULTIMATE], None if pr is None else pr[PENULTIMATE],
                      reference if pr is not None else "none", changed, v, profile, amn)
