"""The audit of one run as the app shows it: original, unlearned and retrained model side by side.

Pure functions on backend objects (no Streamlit), so the audit page, the report, the benchmark and
the tests see the same numbers. Split in two by cost: ``model_facts`` / ``instant_audit`` hold what
appears when the page opens (probes up to k = 10, both attacks, CKA, the embedding map);
``costly_facts`` holds relearning and the probes beyond k = 10, run behind their own button.
Every probe goes through ``unlearning.evaluation.audit.probe`` with its default draws and seed, so the
10-shot figures here are the depth check's, number for number.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import audit, privacy
from .audit import DepthCheck, FeatureSet, ProbeResult, RelearnCurve, RelearnSettings
from ..data import Splits, to_floats
from ..device import pick_device
from ..layers import layer_outputs

MODELS = ("original", "unlearned", "retrained")
INSTANT_SHOTS = (1, 5, 10)  # shown when the page opens
COSTLY_SHOTS = (50,)  # behind the button, with relearning
EMBED_PER_CLASS = 60  # test images per class in the embedding map (the first of each, in split order)
CKA_IMAGES = 200  # test images per group (forgotten / retained) for layer-wise CKA
RELEARN = RelearnSettings()  # the relearning the app runs: the backend's defaults, written into every curve


@dataclass(frozen=True)
class ModelFacts:
    """The instant audit figures of one model (original, unlearned or retrained)."""

    features: FeatureSet
    shots: dict[int, ProbeResult]  # k -> k-shot probe
    forget_accuracy: float  # A_F on the test split
    mia_entropy: float  # entropy attack: share of forget-class training images called members
    mia_entropy_accuracy: float  # that attack's balanced accuracy (0.5: it cannot tell at all)
    mia_svc: float  # SVC attack ("MIA efficacy"): share of forget-class training images called non-members
    grams: dict[str, dict[str, torch.Tensor]]  # group -> layer -> centred Gram matrix (what linear CKA reads)


def _passes(model: nn.Module, splits: Splits, device) -> tuple[FeatureSet, dict[str, torch.Tensor]]:
    """Penultimate features (as ``audit.feature_set``) and logits of the three splits, in one forward pass each."""
    import copy

    from ..layers import classifier_layer, features_and_logits

    dev = pick_device(device)
    p = next(model.parameters(), None)
    runner = model.eval() if p is None or p.device.type == dev.type else copy.deepcopy(model).to(dev).eval()
    _, layer = classifier_layer(runner, to_floats(splits.test.images[:1]).to(dev))
    feats, logits = {}, {}
    for name in ("train", "val", "test"):
        f, lg = features_and_logits(runner, layer, to_floats(getattr(splits, name).images), dev)
        feats[name], logits[name] = f.cpu().numpy().astype(np.float64), lg.cpu()
    fs = FeatureSet(feats["train"], feats["val"], feats["test"], splits.train.labels.numpy(),
                    splits.val.labels.numpy(), splits.test.labels.numpy())
    return fs, logits


def model_facts(model: nn.Module, splits: Splits, forget: Sequence[int], device: str | torch.device | None = None,
                shots: Sequence[int] = INSTANT_SHOTS) -> ModelFacts:
    """One forward pass per split (features and logits together), one probe per k, both attacks, A_F and
    the layer Gram matrices for CKA; the model is only read. Reads the audit sample (``audit.audit_sample``)."""
    forget = sorted(set(int(c) for c in forget))
    splits = audit.audit_sample(splits)
    fs, logits = _passes(model, splits, device)
    train_y, test_y = splits.train.labels, splits.test.labels
    mask = torch.isin(test_y, torch.tensor(forget))
    af = float((logits["test"].argmax(1)[mask] == test_y[mask]).float().mean()) if bool(mask.any()) else float("nan")
    is_f = torch.isin(train_y, torch.tensor(forget)).numpy()
    h_train = privacy.entropy(logits["train"])
    mia = privacy.attack(h_train[~is_f], privacy.entropy(logits["test"]), h_train[is_f])
    return ModelFacts(fs, {k: audit.probe(fs, forget, k=k) for k in shots}, af, mia.member_fraction,
                      mia.attack_accuracy, audit.svc_mia_from_logits(logits["train"], train_y, logits["test"], test_y,
                                                                     forget),
                      grams(model, splits, forget, device))


@dataclass(frozen=True)
class Embedding:
    """Penultimate features of a fixed test sample, mapped to 2-D by one map shared by the models."""

    points: dict[str, np.ndarray]  # model name -> [n, 2]
    labels: np.ndarray  # true class of each point
    explained: float  # share of the original's feature variance the two axes hold


def embedding_sample(labels: np.ndarray, per_class: int = EMBED_PER_CLASS) -> np.ndarray:
    """Indices of the first ``per_class`` test images of each class (deterministic: same images every time)."""
    labels = np.asarray(labels)
    return np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)]).astype(np.int64)


def embed(test_features: Mapping[str, np.ndarray], labels: np.ndarray, forget: Sequence[int],
          per_class: int = EMBED_PER_CLASS) -> Embedding:
    """One 2-D map for every model, so that positions compare.

    Two networks' feature axes mean nothing to each other, so each model's features are first
    rotated onto the original's (orthogonal Procrustes, fitted on the *retained* classes' points
    only, so the forgotten class cannot pull the fit); then one PCA, fitted on the original's
    features, maps all of them. A forgotten class whose cluster survives stays a cluster; one
    that dissolved spreads over its neighbours.
    """
    idx = embedding_sample(labels, per_class)
    y = np.asarray(labels)[idx]
    keep = ~np.isin(y, list(forget))
    base = np.asarray(test_features["original"], dtype=np.float64)[idx]
    b = _centred(base)
    _, s, vt = np.linalg.svd(b, full_matrices=False)
    axes = vt[:2].T
    explained = float((s[:2] ** 2).sum() / max((s ** 2).sum(), 1e-12))
    points = {}
    for name, feats in test_features.items():
        x = np.asarray(feats, dtype=np.float64)[idx]
        if name != "original":
            xc = _centred(x)  # scaled as the original's, so equal (or rotated) features map equal
            u, _, wt = np.linalg.svd(xc[keep].T @ b[keep], full_matrices=False)
            x = xc @ (u @ wt)  # rotated onto the original's axes
        else:
            x = b
        points[name] = x @ axes
    return Embedding(points, y, explained)


def _centred(x: np.ndarray) -> np.ndarray:
    """Column-centred, divided by the root-mean-square distance to the mean (unchanged by rotations)."""
    xc = x - x.mean(0)
    return xc / (float(np.sqrt((xc ** 2).sum(1).mean())) or 1.0)


def _cka_images(splits: Splits, forget: Sequence[int], n: int = CKA_IMAGES) -> dict[str, torch.Tensor]:
    is_f = torch.isin(splits.test.labels, torch.tensor(sorted(set(int(c) for c in forget))))
    return {group: to_floats(splits.test.images[torch.nonzero(mask).flatten()[:n]])
            for group, mask in (("forgotten", is_f), ("retained", ~is_f))}


def grams(model: nn.Module, splits: Splits, forget: Sequence[int], device: str | torch.device | None = None,
          n: int = CKA_IMAGES) -> dict[str, dict[str, torch.Tensor]]:
    """Per group (the first ``n`` test images of the forgotten / the retained classes) and layer, the centred
    Gram matrix of the layer's outputs: linear CKA between two models needs only these, so each model's
    layers are read once however many models it is compared with."""
    out = {}
    for group, x in _cka_images(splits, forget, n).items():
        acts = layer_outputs(model, x, device)
        out[group] = {}
        for name, a in acts.items():
            a = a.double().flatten(1)
            a = a - a.mean(0)
            out[group][name] = a @ a.T
    return out


def cka_from_grams(ga: Mapping[str, Mapping[str, torch.Tensor]], gb: Mapping[str, Mapping[str, torch.Tensor]]
                   ) -> dict[str, dict[str, float]]:
    """``audit.linear_cka`` per group and layer, from two models' centred Gram matrices (the same sums);
    layers only one of the two has are left out."""
    out = {}
    for group, layers in ga.items():
        out[group] = {}
        for name, ka in layers.items():
            kb = gb.get(group, {}).get(name)
            if kb is None or kb.shape != ka.shape:  # a layer the other model lacks: nothing to compare
                continue
            denom = torch.sqrt((ka * ka).sum() * (kb * kb).sum())
            out[group][name] = float((ka * kb).sum() / denom) if float(denom) > 0 else float("nan")
    return out


def cka_groups(a: nn.Module, b: nn.Module, splits: Splits, forget: Sequence[int],
               device: str | torch.device | None = None, n: int = CKA_IMAGES) -> dict[str, dict[str, float]]:
    """Linear CKA per layer between two models on the first ``n`` test images of the forgotten and of the
    retained classes, via ``audit.layer_cka``."""
    return {group: audit.layer_cka(a, b, x, device) for group, x in _cka_images(splits, forget, n).items()}


@dataclass(frozen=True)
class InstantAudit:
    """Everything the audit page shows on opening, for one run."""

    forget: tuple[int, ...]
    facts: dict[str, ModelFacts]  # "original", "unlearned" and, with a reference, "retrained"
    depth: DepthCheck
    embedding: Embedding
    cka: dict[str, dict[str, dict[str, float]]]  # pair ("unlearned vs original", ...) -> group -> layer -> CKA

    @property
    def has_reference(self) -> bool:
        return "retrained" in self.facts


def instant_audit(original: nn.Module, unlearned: nn.Module, splits: Splits, forget: Sequence[int],
                  retrained: nn.Module | None = None, reference: str = "none",
                  device: str | torch.device | None = None, original_facts: ModelFacts | None = None,
                  retrained_facts: ModelFacts | None = None, depth: DepthCheck | None = None) -> InstantAudit:
    """The instant part of the audit; pass the original's and the reference's facts to reuse them (they
    depend on the model and the classes, not on the run), and the run's ``depth`` check when it has one
    (else ``audit.depth_check`` runs here: one verdict function, whoever asks)."""
    forget = tuple(sorted(set(int(c) for c in forget)))
    facts = {"original": original_facts or model_facts(original, splits, forget, device),
             "unlearned": model_facts(unlearned, splits, forget, device)}
    if retrained is not None:
        facts["retrained"] = retrained_facts or model_facts(retrained, splits, forget, device)
    if depth is None:
        depth = audit.depth_check(original, unlearned, splits, forget, facts["unlearned"].forget_accuracy,
                                  facts["original"].forget_accuracy, retrained=retrained, reference=reference,
                                  device=device)
    emb = embed({n: f.features.test for n, f in facts.items()}, facts["original"].features.y_test, forget)
    g = {n: f.grams for n, f in facts.items()}
    cka = {"unlearned vs original": cka_from_grams(g["unlearned"], g["original"])}
    if retrained is not None:
        cka["unlearned vs retrained"] = cka_from_grams(g["unlearned"], g["retrained"])
        cka["retrained vs original"] = cka_from_grams(g["retrained"], g["original"])
    return InstantAudit(forget, facts, depth, emb, cka)


@dataclass(frozen=True)
class CostlyFacts:
    """One model's relearning curve and its probes beyond k = 10."""

    shots: dict[int, ProbeResult]
    relearn: RelearnCurve


def costly_facts(model: nn.Module, splits: Splits, forget: Sequence[int], target: float, features: FeatureSet,
                 device: str | torch.device | None = None, shots: Sequence[int] = COSTLY_SHOTS,
                 settings: RelearnSettings | None = None,
                 should_stop: Callable[[], bool] | None = None) -> CostlyFacts:
    """Relearning (``audit.relearn``, towards the original's A_F ``target``) and the larger probes."""
    forget = sorted(set(int(c) for c in forget))
    settings = settings or RELEARN
    probes = {k: audit.probe(features, forget, k=k) for k in shots}
    return CostlyFacts(probes, audit.relearn(model, splits, forget, target, settings, device, should_stop))


@dataclass(frozen=True)
class MethodAudit:
    """The audit columns of the Compare page for one method's forgotten model."""

    probe_forget: float  # 10-shot recoverability of the forgotten classes (test images)
    relearn_steps_50: int | None  # relearning steps to 50 % of the original's A_F (None: not within the budget)
    mia_svc: float  # SVC MIA efficacy (share of forget-class training images called non-members)


def method_audit(model: nn.Module, splits: Splits, forget: Sequence[int], target: float,
                 device: str | torch.device | None = None,
                 settings: RelearnSettings | None = None) -> MethodAudit:
    """10-shot probe, relearning towards the original's A_F ``target``, and the SVC attack."""
    forget = sorted(set(int(c) for c in forget))
    settings = settings or RELEARN
    fs = audit.feature_set(model, splits, device)
    curve = audit.relearn(model, splits, forget, target, settings, device)
    return MethodAudit(audit.probe(fs, forget, k=10).forget_test, curve.steps_to_50,
                       audit.svc_mia(model, splits, forget, device))
