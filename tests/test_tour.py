"""The guided tour's backend: every step's numbers are those of forgetting.forget for the same inputs,
and the strength sweep passes through the paper's own result at k = 1."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch

from conftest import DEVICES, state_hash
from unlearning.methods import forgetting
from unlearning import tour
from unlearning.storage.checkpoints import load_checkpoint
from unlearning.data import load_dataset
from unlearning.methods.fisher import code_fisher
from unlearning.evaluation.metrics import evaluate
from unlearning.pipeline import default_lambdas, forget_and_evaluate

MLP = Path(__file__).resolve().parents[1] / "assets" / "models" / "mlp-mnist5k.safetensors"
pytestmark = pytest.mark.skipif(not MLP.is_file(), reason="the paper's MLP is not shipped")
CLASSES = [3]


@pytest.fixture(scope="module")
def splits():
    return load_dataset("mnist5k")


@pytest.fixture(scope="module")
def mlp():
    torch.set_num_threads(1)
    return load_checkpoint(MLP)


@pytest.fixture(scope="module")
def paper(mlp, splits):
    """What the app's backend itself says for the paper's rule on these inputs."""
    return forget_and_evaluate(mlp, splits.test, CLASSES, device="cpu", mode="paper")


@pytest.fixture(scope="module")
def steps(mlp, splits):
    return tour.paper_tour(mlp, CLASSES, splits.test, splits.val, device="cpu")


def test_the_tour_leaves_the_model_alone(mlp, splits):
    before = state_hash(mlp.model)
    tour.paper_tour(mlp, [0, 1], splits.test, None, device="cpu", factors=(0.0, 1.0))
    assert state_hash(mlp.model) == before


def test_sign_candidates_and_lambdas_are_the_forget_results(steps, paper):
    r = paper.result
    p = steps.perturbation
    assert (p.lambda1, p.lambda2) == (r.lambda1, r.lambda2) == default_lambdas("mlp")
    assert p.sign == r.sign
    assert p.candidates == r.code_scores
    assert p.scores == {s: (1 - f) + k for s, (f, k) in r.code_scores.items()}
    assert 0 < p.delta_norm < p.weight_norm and p.max_delta == pytest.approx(max(t.max_delta for t in r.tensors))


def test_ratio_and_chosen_parameters_are_the_forget_results(steps, paper):
    r = paper.result
    edges, counts, moved = r.ratio_histogram()
    assert steps.ratio.edges == tuple(edges) and steps.ratio.counts == tuple(counts)
    assert steps.ratio.moved_counts == tuple(moved)
    assert steps.ratio.max_ratio == max(t.max_ratio for t in r.tensors)
    assert 0 < steps.ratio.above_one < r.total_params
    assert steps.chosen.moved == r.moved_params and steps.chosen.total == r.total_params
    assert [(m.name, m.numel, m.moved, m.scale) for m in steps.chosen.layers] == [
        (t.name, t.numel, t.moved, t.scale) for t in r.tensors]


def test_fisher_histograms_bin_every_parameter_of_code_fisher(steps, mlp):
    fishers = code_fisher(mlp.model, mlp.codes, CLASSES, device="cpu")
    total = sum(p.numel() for p in mlp.model.parameters())
    assert sum(steps.fisher.forget_counts) == sum(steps.fisher.remain_counts) == total
    assert len(steps.fisher.edges) == len(steps.fisher.forget_counts) + 1
    for layer in steps.fisher.layers:
        assert layer.forget_mean == pytest.approx(float(fishers.forget[layer.name].mean()))
        assert layer.remain_mean == pytest.approx(float(fishers.remain[layer.name].mean()))


def test_codes_step_predicts_every_code(steps, mlp, paper):
    c = steps.codes
    assert len(c.predicted) == len(c.confidence) == mlp.num_classes
    assert set(CLASSES) <= set(c.shown) and c.images.shape == (len(c.shown), *mlp.codes.shape[1:])
    assert c.images.dtype.name == "uint8"
    logits = mlp.model(mlp.codes).argmax(1)
    assert list(c.predicted) == logits.tolist()


def test_the_check_is_the_evaluation_on_real_images(steps, paper, mlp, splits):
    test = next(s for s in steps.check.splits if s.split == "test")
    assert test.images == len(splits.test)
    assert test.forget_after == paper.after.forget_accuracy(CLASSES)
    assert test.retain_after == paper.after.retain_accuracy(CLASSES)
    assert test.forget_before == paper.before.forget_accuracy(CLASSES)
    assert steps.check.per_class_after == paper.after.per_class_accuracy
    assert steps.check.verdict == paper.verdict.message
    other = "+" if paper.result.sign == "-" else "-"
    fishers = code_fisher(mlp.model, mlp.codes, CLASSES, device="cpu")
    _, deltas, _ = forgetting.perturbations(mlp.model, fishers, *default_lambdas("mlp"))
    rejected = evaluate(forgetting.apply_delta(mlp.model, deltas, 1.0 if other == "+" else -1.0), splits.test,
                        mlp.num_classes, device="cpu")
    assert steps.check.rejected_sign == other
    assert (steps.check.rejected_forget, steps.check.rejected_retain) == (
        rejected.forget_accuracy(CLASSES), rejected.retain_accuracy(CLASSES))
    val = next(s for s in steps.check.splits if s.split == "validation")
    after_val = evaluate(paper.result.model, splits.val, mlp.num_classes, device="cpu")
    assert val.forget_after == after_val.forget_accuracy(CLASSES) and val.images == len(splits.val)


def test_the_sweep_passes_through_the_paper_rule_at_its_own_strength(steps, paper):
    sw = steps.sweep
    assert sw.factors == tour.SWEEP_FACTORS and sw.sign == paper.result.sign
    i = sw.own_index
    assert sw.forget_accuracy[i] == paper.after.forget_accuracy(CLASSES)
    assert sw.retain_accuracy[i] == paper.after.retain_accuracy(CLASSES)
    assert (sw.code_forget_accuracy[i], sw.code_retain_accuracy[i]) == paper.result.code_scores[paper.result.sign]
    assert sw.forget_accuracy[0] == paper.before.forget_accuracy(CLASSES)
    gone = sw.first_forgotten()
    assert sw.forget_accuracy[gone] <= 0.02 and all(a > 0.02 for a in sw.forget_accuracy[:gone])
    # pushed far enough, the kept classes break: the trade-off the slider shows
    assert min(sw.retain_accuracy) < sw.retain_accuracy[0] - 0.2


def test_strength_sweep_measured_afresh_equals_the_paper_rule_with_scaled_lambdas(mlp, splits, paper):
    """No precomputed evaluations: every factor's weights are rebuilt in place and measured."""
    l1, l2 = default_lambdas("mlp")
    fishers = code_fisher(mlp.model, mlp.codes, CLASSES, device="cpu")
    _, deltas, _ = forgetting.perturbations(mlp.model, fishers, l1, l2)
    sign = 1.0 if paper.result.sign == "+" else -1.0
    sw = tour.strength_sweep(mlp.model, mlp.codes, deltas, sign, splits.test, CLASSES, factors=(0.0, 1.0, 3.0))
    assert sw.forget_accuracy[1] == paper.after.forget_accuracy(CLASSES)
    assert sw.retain_accuracy[1] == paper.after.retain_accuracy(CLASSES)
    assert sw.forget_accuracy[0] == paper.before.forget_accuracy(CLASSES)
    # k = 3 is the paper's rule with lambda1 and lambda2 both tripled (same sign), up to float rounding
    scaled = forget_and_evaluate(mlp, splits.test, CLASSES, lambda1=3 * l1, lambda2=3 * l2, device="cpu", mode="paper")
    if scaled.result.sign == paper.result.sign:
        assert sw.forget_accuracy[2] == pytest.approx(scaled.after.forget_accuracy(CLASSES), abs=2 / len(splits.test))
        assert sw.retain_accuracy[2] == pytest.approx(scaled.after.retain_accuracy(CLASSES), abs=2 / len(splits.test))


def test_the_default_mode_sweep_passes_through_its_own_result(mlp, splits):
    mode = forgetting.DEFAULT_MODE
    want = forget_and_evaluate(mlp, splits.test, CLASSES, device="cpu", mode=mode,
                               calibration=splits.val if mode in forgetting.NEEDS_VALIDATION else None)
    sw = tour.default_mode_sweep(mlp, CLASSES, splits.test, splits.val, device="cpu", factors=(0.0, 1.0, 2.0))
    assert sw.mode == mode and sw.sign == want.result.sign
    assert sw.forget_accuracy[1] == want.after.forget_accuracy(CLASSES)
    assert sw.retain_accuracy[1] == want.after.retain_accuracy(CLASSES)
    assert sw.forget_accuracy[0] == want.before.forget_accuracy(CLASSES)


@pytest.mark.parametrize("factors", [(0.0, 3.0), (1.0, -1.0), (1.0, float("nan"))])
def test_a_sweep_needs_the_own_strength_and_sane_factors(mlp, splits, factors):
    with pytest.raises(ValueError, match="factors"):
        tour.strength_sweep(mlp.model, mlp.codes, {}, 1.0, splits.test, CLASSES, factors=factors)


@pytest.mark.parametrize("classes", [[], list(range(10)), [10]])
def test_bad_class_choices_are_refused(mlp, splits, classes):
    with pytest.raises(ValueError):
        tour.paper_tour(mlp, classes, splits.test)


def test_every_step_names_backend_functions_with_readable_source():
    assert set(tour.STEP_FUNCTIONS) == {"codes", "fisher", "ratio", "chosen", "perturbation", "check", "sweep"}
    for step, fns in tour.STEP_FUNCTIONS.items():
        assert fns, step
        for fn in fns:
            assert fn.__module__.startswith("unlearning."), (step, fn)
            text = tour.source(fn)
            assert text == inspect.getsource(fn) and f"def {fn.__name__}(" in text


@pytest.mark.parametrize("device", DEVICES)
def test_the_tour_runs_on_every_device_with_the_cpus_numbers(mlp, splits, steps, device):
    there = tour.paper_tour(mlp, CLASSES, splits.test, splits.val, device=device)
    assert there.perturbation.sign == steps.perturbation.sign
    assert there.chosen.total == steps.chosen.total
    tol = 3 / len(splits.test)  # a few images may flip between devices' float rounding
    assert there.sweep.forget_accuracy == pytest.approx(steps.sweep.forget_accuracy, abs=tol)
    assert there.sweep.retain_accuracy == pytest.approx(steps.sweep.retain_accuracy, abs=tol)
    assert sum(there.fisher.forget_counts) == sum(steps.fisher.forget_counts)


def test_why_reads_its_numbers_off_the_tours_own_steps(steps):
    w = tour.why(steps)
    moves = steps.chosen.layers
    assert w.tensors == len(moves) and w.lambda1 == steps.perturbation.lambda1
    assert w.capped == sum(1 for m in moves if m.scale == pytest.approx(w.lambda1))
    assert w.code_scores == steps.perturbation.candidates
    top = max(steps.fisher.layers, key=lambda f: f.forget_mean * f.numel)
    assert w.top_tensor == top.name and w.top_ratio == pytest.approx(top.forget_mean / top.remain_mean)
    gone = steps.sweep.first_forgotten()
    assert w.images_forgotten_at == (None if gone is None else steps.sweep.factors[gone])


def test_why_the_paper_rule_falls_short_on_the_default_resnet():
    """Measured on resnet8-mnist5k, digit 3 (what the tour says there): the λ1 cap binds in every tensor,
    the Fisher ratio is near even in most tensors, and both candidates leave every code recognised while
    the real images need about 10x the paper's push."""
    from ui import tour_figures
    from unlearning.storage.folders import default_model_path

    ckpt = load_checkpoint(default_model_path())
    if ckpt.meta.get("arch") != "resnet8":
        pytest.skip("the default model is not the ResNet-8")
    data = load_dataset(ckpt.meta["dataset"])
    t = tour.paper_tour(ckpt, CLASSES, data.test, data.val, device="cpu")
    assert not t.check.forgot
    w = tour.why(t)
    assert w.capped == w.tensors and w.typical_move < 1e-3
    assert w.near_even > w.tensors / 2 and w.top_ratio < 2
    assert all(v == (1.0, 1.0) for v in w.code_scores.values())
    assert w.images_forgotten_at is not None and w.images_forgotten_at > 1
    text = " ".join(tour_figures.why_sentences(w))
    assert f"{w.capped} of {w.tensors}" in text and "100% of the forgotten codes" in text
