"""The depth audit on cases with a known answer: a classifier-row edit is hidden, retraining is forgotten."""
import copy
import dataclasses

import numpy as np
import pytest
import torch

from conftest import state_hash
from unlearning.evaluation import audit as A
from unlearning.methods.baselines import SGDSettings, retrain
from unlearning.methods.forgetting import forget
from unlearning.layers import block_names, layer_outputs, penultimate
from unlearning.evaluation.metrics import evaluate

FORGET = [3]


@pytest.fixture(scope="module")
def retrained(digits, digits_mlp):
    res = retrain(digits_mlp.model, digits.train, FORGET, settings=SGDSettings(epochs=40, lr=0.05),
                  codes=digits_mlp.codes, t_mix=0.1, device="cpu")
    return res.model


@pytest.fixture(scope="module")
def row_edit(digits_mlp):
    """Only the classifier row of the forgotten class changed: the textbook case of hiding."""
    m = copy.deepcopy(digits_mlp.model)
    with torch.no_grad():
        m.net.fc2.bias[FORGET[0]] -= 100.0
    return m.eval()


def test_a_classifier_row_edit_is_hidden_and_retraining_is_forgotten(digits, digits_mlp, row_edit, retrained):
    af = {name: evaluate(m, digits.test, 10).forget_accuracy(FORGET)
          for name, m in (("original", digits_mlp.model), ("row edit", row_edit), ("retrained", retrained))}
    hidden = A.depth_check(digits_mlp.model, row_edit, digits, FORGET, af["row edit"], af["original"],
                           retrained=retrained, reference="test", device="cpu", with_relearn=False)
    assert af["row edit"] == 0.0  # the outputs forgot...
    assert hidden.probe_unlearned == hidden.probe_original and not hidden.features_changed  # ...the features did not
    assert hidden.verdict.level == "hidden" and not hidden.verdict.success

    gone = A.depth_check(digits_mlp.model, retrained, digits, FORGET, af["retrained"], af["original"],
                         retrained=retrained, reference="test", device="cpu", with_relearn=False)
    assert gone.verdict.level == "forgotten" and gone.verdict.success


def test_depth_verdict_levels_and_thresholds():
    assert A.depth_verdict(0.30, 0.9, 0.9, 0.6).level == "not forgotten"
    assert A.depth_verdict(0.0, 0.9, 0.64, 0.6).level == "forgotten"  # within 5 points of retraining
    assert A.depth_verdict(0.0, 0.9, 0.85, 0.6).level == "hidden"  # under half the way
    assert A.depth_verdict(0.0, 0.9, 0.70, 0.6).level == "partly forgotten"
    assert A.depth_verdict(0.0, 0.9, 0.5, 0.6, features_changed=False).level == "hidden"
    assert A.depth_verdict(0.0, 0.9, 0.88, None).level == "hidden"
    assert A.depth_verdict(0.0, 0.9, 0.5, None).level == "unknown depth"
    assert A.depth_verdict(0.0, 0.9, 0.9, 0.6, original_accuracy=0.0).level == "never recognised"
    v = A.depth_verdict(0.0, 0.9, 0.64, 0.6)
    assert v.thresholds["forgotten_at_most"] == pytest.approx(0.65) and "64%" in v.message


def test_probe_is_balanced_and_more_shots_recover_more(digits, digits_mlp):
    fs = A.feature_set(digits_mlp.model, digits, device="cpu")
    one, many, full = (A.probe(fs, FORGET, k=k, draws=3) for k in (1, 50, None))
    assert one.draws == 3 and full.draws == 1 and full.k is None
    assert one.forget_test < many.forget_test <= full.forget_test + 0.05  # more labelled images, more recovered
    assert 0.8 < full.retain_test <= 1.0
    assert A.probe(fs, FORGET, k=10, seed=1) == A.probe(fs, FORGET, k=10, seed=1)  # seeded


def test_audit_sample_is_bounded_per_class_whatever_the_dataset_size(digits):
    big = A.audit_sample(dataclasses.replace(digits, train=digits.train.subset(
        torch.arange(len(digits.train)).repeat(4))))  # a training split four times the size
    counts = torch.bincount(big.train.labels)
    assert int(counts.max()) == A.AUDIT_TRAIN_PER_CLASS and len(counts) == 10
    assert A.audit_sample(digits).test is digits.test  # a split already that small is kept whole


def test_the_probe_reads_a_fixed_number_of_retained_images_per_class(monkeypatch, digits, digits_mlp):
    """At 60,000 images the old probe saw 48,600 retained against 10 and never found the class, even in the
    original; now it reads PROBE_RETAIN_PER_CLASS of each retained class beside the k forgotten ones."""
    from sklearn.linear_model import LogisticRegression

    seen = []
    real_fit = LogisticRegression.fit
    monkeypatch.setattr(LogisticRegression, "fit", lambda self, x, y, *a, **k: seen.append(np.bincount(y)) or
                        real_fit(self, x, y, *a, **k))
    fs = A.feature_set(digits_mlp.model, digits, device="cpu")
    A.probe(fs, FORGET, k=10, draws=1, retain_per_class=20)
    kept = [c for c in range(10) if c not in FORGET]
    assert all(seen[0][c] == 10 for c in FORGET) and all(seen[0][c] == 20 for c in kept)


def test_relearning_curve_counts_steps_to_half_and_most_of_the_original(digits, digits_mlp, row_edit):
    before = state_hash(row_edit)
    curve = A.relearn(row_edit, digits, FORGET, target=1.0, settings=A.RelearnSettings(max_steps=30, eval_every=3),
                      device="cpu")
    assert state_hash(row_edit) == before  # relearning works on a copy
    assert curve.steps[0] == 0 and curve.forget_accuracy[0] == 0.0 and len(curve.steps) == 11
    if curve.steps_to_50 is not None:
        assert curve.forget_accuracy[curve.steps.index(curve.steps_to_50)] >= 0.5
        assert curve.steps_to_90 is None or curve.steps_to_90 >= curve.steps_to_50
    original = A.relearn(digits_mlp.model, digits, FORGET, target=1.0, device="cpu")
    assert original.steps_to_50 == 0  # nothing to relearn


def test_svc_mia_calls_a_never_seen_class_non_member_more_often(digits, digits_mlp, retrained):
    original = A.svc_mia(digits_mlp.model, digits, FORGET, device="cpu")
    gone = A.svc_mia(retrained, digits, FORGET, device="cpu")
    assert 0.0 <= original <= 1.0 and gone > original


def test_linear_cka_is_one_for_rotations_and_low_for_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 16, generator=g)
    q, _ = torch.linalg.qr(torch.randn(16, 16, generator=g))
    assert A.linear_cka(x, x @ q * 3.0) == pytest.approx(1.0)
    assert A.linear_cka(x, torch.randn(200, 16, generator=g)) < 0.3


def test_layers_are_found_and_their_outputs_flattened(digits, digits_cnn):
    x = digits.test.tensors()[0][:20]
    assert block_names(digits_cnn.model)[-1] == "net.head.3"
    outs = layer_outputs(digits_cnn.model, x, "cpu")
    assert set(outs) == set(block_names(digits_cnn.model)) | {"penultimate"}
    assert all(v.shape[0] == 20 and v.dim() == 2 for v in outs.values())
    assert torch.equal(outs["penultimate"], penultimate(digits_cnn.model, x, "cpu"))


def test_depth_check_without_reference_on_the_erase_mode(digits, digits_mlp):
    res = forget(digits_mlp.model, digits_mlp.codes, FORGET, calibration=digits.val, device="cpu")
    after = evaluate(res.model, digits.test, 10)
    check = A.depth_check(digits_mlp.model, res.model, digits, FORGET, forget_accuracy=after.forget_accuracy(FORGET),
                          original_accuracy=1.0, device="cpu")
    assert check.features_changed and check.probe_retrained is None and check.reference == "none"
    assert check.probe_unlearned < check.probe_original  # erasure removed what the probe reads
    assert check.to_dict()["verdict"]["level"] == check.verdict.level
    assert np.isfinite(check.probe_unlearned)


def test_deep_forgetting_that_wrecks_the_rest_is_not_a_success():
    v = A.depth_verdict(0.0, 0.9, 0.6, 0.6, retain_drop=0.39)
    assert v.level == "forgotten" and not v.success and "39.0 points" in v.message
    assert A.depth_verdict(0.0, 0.9, 0.6, 0.6, retain_drop=0.01).success


def test_the_verdict_reads_the_worst_depth_a_class_erased_only_at_the_last_layer_is_hidden_lower():
    """The erase pattern: the penultimate matches retraining, one stage lower the class is all there."""
    p = A.DepthProfile(("stage 1", "stage 2", "penultimate"), original=(0.90, 0.92, 0.95),
                       unlearned=(0.90, 0.92, 0.31), retrained=(0.30, 0.40, 0.30))
    assert p.worst() == 0  # 60 points above retraining at stage 1 (52 at stage 2, 1 at the penultimate)
    pixels = A.DepthProfile(("input", "penultimate"), (0.5, 0.9), (0.5, 0.2), (0.5, 0.3))
    assert pixels.worst() == 1  # the input is everyone's: never the worst depth, even at a higher gap
    v = A.depth_verdict(0.0, 0.95, 0.31, 0.30, profile=p, anamnesis_index=1.0)
    assert v.level == "hidden" and not v.success and v.worst_depth == "stage 1"
    assert "stage 1" in v.message and "90%" in v.message and "30%" in v.message
    # the penultimate alone (the headline probe) would have called it forgotten
    assert A.depth_verdict(0.0, 0.95, 0.31, 0.30).level == "forgotten"
    # every depth within the margin, but relearnt in a third of retraining's steps: not forgotten yet
    deep = A.DepthProfile(p.stages, p.original, (0.33, 0.42, 0.31), p.retrained)
    assert A.depth_verdict(0.0, 0.95, 0.31, 0.30, profile=deep, anamnesis_index=0.8).level == "forgotten"
    fast = A.depth_verdict(0.0, 0.95, 0.31, 0.30, profile=deep, anamnesis_index=0.33)
    assert fast.level == "partly forgotten" and "0.33" in fast.message


def test_the_anamnesis_index_counts_steps_and_bounds_the_unreached():
    assert A.Anamnesis(12, 60, 60).index == pytest.approx(0.2)
    assert A.Anamnesis(None, 30, 60).index == pytest.approx(61 / 30)  # not reached: at least max_steps + 1
    assert A.Anamnesis(None, None, 60).index == pytest.approx(1.0)
    assert A.Anamnesis(0, 0, 60).index is None  # the retrained model needs no relearning: no ratio


def test_retraining_is_forgotten_at_every_depth_and_erase_leaves_the_lower_stages_untouched(digits, digits_cnn):
    """Known answers end to end on the CNN: the retrained reference judged against itself is forgotten at
    every depth with an index of exactly 1; ``erase`` edits the last hidden layer only, so the stages below it
    keep the original's recoverability to the digit."""
    from unlearning.stages import stage_names

    ret = retrain(digits_cnn.model, digits.train, FORGET, settings=SGDSettings(epochs=3, lr=0.01),
                  codes=digits_cnn.codes, t_mix=0.1, device="cpu").model
    before = evaluate(digits_cnn.model, digits.test, 10).forget_accuracy(FORGET)
    gone = A.depth_check(digits_cnn.model, ret, digits, FORGET, forget_accuracy=0.0, original_accuracy=before,
                         retrained=ret, reference="trained", device="cpu")
    assert gone.profile.stages == tuple(stage_names(digits_cnn.model)) and len(gone.profile.stages) == 4
    assert gone.profile.unlearned == gone.profile.retrained  # forgotten at every depth, by construction
    assert gone.anamnesis.index == pytest.approx(1.0)
    assert gone.verdict.level == "forgotten" and gone.verdict.success

    res = forget(digits_cnn.model, digits_cnn.codes, FORGET, calibration=digits.val, device="cpu")
    erased = A.depth_check(digits_cnn.model, res.model, digits, FORGET,
                           forget_accuracy=evaluate(res.model, digits.test, 10).forget_accuracy(FORGET),
                           original_accuracy=before, retrained=ret, device="cpu")
    prof = erased.profile
    assert prof.unlearned[:2] == prof.original[:2]  # the conv blocks are the original's, bit for bit
    assert prof.unlearned[-1] < prof.original[-1]  # the erased penultimate
    assert erased.verdict.worst_depth == prof.stages[prof.worst()]
    d = erased.to_dict()
    assert d["profile"]["stages"] == list(prof.stages) and d["anamnesis_index"] == erased.anamnesis.index


def _linear_world():
    """Known answer by construction: four classes of 8-pixel images; class 0 sits where class 1 does except
    along pixel 0. Zeroing pixel 0 (``P``) makes class 0 indistinguishable from class 1."""
    from unlearning.data import DatasetInfo, ImageTensors, Splits

    g = torch.Generator().manual_seed(0)
    offsets = torch.zeros(4, 8)
    offsets[0, 0] = offsets[0, 1] = offsets[1, 1] = offsets[2, 2] = offsets[3, 3] = 0.3

    def split(per_class):
        y = torch.arange(4).repeat_interleave(per_class)
        x = 0.35 + offsets[y] + 0.04 * torch.randn(len(y), 8, generator=g)
        return ImageTensors((x.clamp(0, 1) * 255).round().to(torch.uint8).view(-1, 1, 2, 4), y)

    info = DatasetInfo("linear", ("0", "1", "2", "3"), (1, 2, 4), (0.0,), (1.0,))
    return Splits(info, split(100), split(20), split(50)), offsets


def _stack(first: torch.Tensor, second: torch.Tensor, third: torch.Tensor, head_w: torch.Tensor, head_b: torch.Tensor):
    """flatten, three linear hidden layers with the given weights (no bias), a linear head."""
    from torch import nn

    from unlearning.models import Classifier

    layers = [nn.Linear(8, 8, bias=False) for _ in range(3)]
    head = nn.Linear(8, 4)
    with torch.no_grad():
        for layer, w in zip(layers, (first, second, third)):
            layer.weight.copy_(w)
        head.weight.copy_(head_w)
        head.bias.copy_(head_b)
    return Classifier(nn.Sequential(nn.Flatten(), *layers, head), (0.0,), (1.0,)).eval()


def test_a_class_erased_only_at_the_last_hidden_layer_is_hidden_at_a_lower_depth():
    """The original reads every class; the retrained model never had pixel 0 (its first layer drops it, its
    head never predicts class 0); the unlearned one keeps the original's first two layers and drops pixel 0
    only in its last hidden layer, with the retrained head. Its outputs and penultimate features are the
    retrained model's, so the headline probe calls it forgotten; one stage lower the class is all there."""
    splits, offsets = _linear_world()
    eye, drop = torch.eye(8), torch.eye(8)
    drop[0, 0] = 0.0
    centre = offsets - offsets.mean(0)
    w, b = centre, -(centre ** 2).sum(1) / 2 - centre @ torch.full((8,), 0.35 + offsets.mean(0).mean())
    w_ret, b_ret = w.clone(), b.clone()
    b_ret[0] = -1e3  # a model that never saw class 0 never predicts it
    original = _stack(eye, eye, eye, w, b)
    retrained = _stack(drop, eye, eye, w_ret, b_ret)
    unlearned = _stack(eye, eye, drop, w_ret, b_ret)
    acc = {n: evaluate(m, splits.test, 4).forget_accuracy([0])
           for n, m in (("original", original), ("unlearned", unlearned))}
    assert acc["original"] > 0.9 and acc["unlearned"] == 0.0

    check = A.depth_check(original, unlearned, splits, [0], acc["unlearned"], acc["original"], retrained=retrained,
                          reference="constructed", device="cpu", with_relearn=False)
    p = check.profile
    assert p.stages == ("net.1", "net.2", "net.3", "penultimate")
    assert p.unlearned[-1] == p.retrained[-1]  # at the penultimate it is exactly the retrained model
    assert p.unlearned[:2] == p.original[:2] and p.original[0] > 0.9 > 0.5 > p.retrained[0]
    assert check.verdict.level == "hidden" and check.verdict.worst_depth == "net.2"  # lower than the erased layer
    # the headline probe alone (the penultimate) would have passed it
    assert A.depth_verdict(acc["unlearned"], p.original[-1], p.unlearned[-1], p.retrained[-1]).level == "forgotten"
    # and the retrained reference, audited against itself, is forgotten at every depth
    gone = A.depth_check(original, retrained, splits, [0], 0.0, acc["original"], retrained=retrained,
                         device="cpu", with_relearn=False)
    assert gone.profile.unlearned == gone.profile.retrained and gone.verdict.level == "forgotten"
