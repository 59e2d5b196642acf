"""The classifier-layer modes (unlearning/classifier_edit: "classifier", "calibrated"): the classifier-layer
Fisher against autograd and the paper's Fisher, what moves, the calibrated strength, signed features."""
import pytest
import torch
from torch import nn

from conftest import DEVICES, state_hash
from unlearning.data import to_floats
from unlearning.methods.fisher import EPS, code_fisher
from unlearning.methods.forgetting import (CODE_SAFETY, STRENGTHS, VAL_SAFETY, classifier_fisher, classifier_layer,
                                   forget)
from unlearning.evaluation.metrics import code_accuracies, evaluate


def test_unknown_modes_and_missing_validation_images_are_clear_errors(digits_mlp):
    with pytest.raises(ValueError, match="unknown forgetting mode"):
        forget(digits_mlp.model, digits_mlp.codes, [1], mode="magic")
    with pytest.raises(ValueError, match="need labelled validation images"):
        forget(digits_mlp.model, digits_mlp.codes, [1], mode="calibrated")
    with pytest.raises(ValueError, match="calibration images"):
        forget(digits_mlp.model, digits_mlp.codes, [1], mode="calibrated",
               calibration=(torch.rand(4, 1, 5, 5), torch.zeros(4, dtype=torch.long)))


def test_classifier_fisher_is_the_squared_gradient_of_the_centred_logit(digits_mlp):
    """Closed form against autograd, class by class: g = d(z_c - mean z)/d theta of the last layer."""
    model, codes = digits_mlp.model.eval(), digits_mlp.codes
    name, layer = classifier_layer(model, codes[:1])
    feats = {}
    h = layer.register_forward_hook(lambda m, a, o: feats.__setitem__("h", a[0].detach()))
    model(codes)
    h.remove()
    forget_set = [2, 5]
    got = classifier_fisher(feats["h"], len(codes), forget_set)
    sums = {"f": {"weight": 0.0, "bias": 0.0}, "r": {"weight": 0.0, "bias": 0.0}}
    for c in range(len(codes)):
        model.zero_grad()
        z = model(codes[c:c + 1])[0]
        (z[c] - z.mean()).backward()
        key = "f" if c in forget_set else "r"
        for p in ("weight", "bias"):
            sums[key][p] = sums[key][p] + getattr(layer, p).grad.square()
    for p in ("weight", "bias"):
        torch.testing.assert_close(got.forget[p], sums["f"][p] / 2 + EPS, rtol=1e-5, atol=1e-9)
        torch.testing.assert_close(got.remain[p], sums["r"][p] / 8 + EPS, rtol=1e-5, atol=1e-9)


class _Tempered(nn.Module):
    def __init__(self, model, t):
        super().__init__()
        self.m, self.t = model, t

    def forward(self, x):
        return self.m(x) / self.t


def test_classifier_fisher_is_the_infinite_temperature_limit_of_the_papers_fisher(digits_mlp):
    """The project's code_fisher on logits / T, times T^2, tends to the closed form as T grows."""
    model, codes = digits_mlp.model.eval(), digits_mlp.codes
    name, layer = classifier_layer(model, codes[:1])
    t = 1e4
    paper = code_fisher(_Tempered(model, t), codes, [3], device="cpu")
    feats = {}
    h = layer.register_forward_hook(lambda m, a, o: feats.__setitem__("h", a[0].detach()))
    model(codes)
    h.remove()
    limit = classifier_fisher(feats["h"], len(codes), [3])
    for p in ("weight", "bias"):
        key = f"m.{name}.{p}"
        torch.testing.assert_close((paper.forget[key] - EPS) * t * t, limit.forget[p] - EPS, rtol=2e-2, atol=1e-6)
        torch.testing.assert_close((paper.remain[key] - EPS) * t * t, limit.remain[p] - EPS, rtol=2e-2, atol=1e-6)


@pytest.mark.parametrize("mode", ["classifier", "calibrated"])
def test_only_the_classifier_layer_moves_and_the_input_model_is_untouched(digits, digits_cnn, mode):
    model, codes = digits_cnn.model, digits_cnn.codes
    before = state_hash(model)
    res = forget(model, codes, [4, 6], mode=mode, calibration=digits.val, device="cpu")
    assert state_hash(model) == before
    assert res.mode == mode and res.layer == "net.head.3" and res.sign in "+-"
    assert STRENGTHS[0] <= res.strength <= STRENGTHS[-1] * CODE_SAFETY
    changed = {n for n, p in res.model.named_parameters()
               if not torch.equal(p.detach().cpu(), dict(model.named_parameters())[n].detach().cpu())}
    assert changed and changed <= {"net.head.3.weight", "net.head.3.bias"}
    assert {t.name for t in res.tensors} == {n for n, _ in model.named_parameters()}
    assert res.moved_params == sum(t.moved for t in res.tensors if t.name.startswith("net.head.3."))
    assert res.total_params == sum(p.numel() for p in model.parameters())
    assert res.seconds["total"] >= res.seconds["fisher"] >= 0
    # the kept candidate's code scores are those of the returned model
    assert code_accuracies(res.model, codes, [4, 6], device="cpu") == pytest.approx(res.code_scores[res.sign])


@pytest.mark.parametrize("device", DEVICES)
def test_calibrated_forgets_real_digits_and_keeps_the_rest(digits, digits_mlp, device):
    """Measured on the digits' test split; the strength was checked on the validation split only."""
    before = evaluate(digits_mlp.model, digits.test, 10, device=device)
    for classes in ([0], [3], [1, 7], [0, 2, 4, 6, 8]):
        res = forget(digits_mlp.model, digits_mlp.codes, classes, mode="calibrated", calibration=digits.val,
                     device=device)
        after = evaluate(res.model, digits.test, 10, device=device)
        assert res.calibration["val_forget_after"] == 0.0
        assert res.code_scores[res.sign][0] == 0.0
        assert after.forget_accuracy(classes) <= 0.05, classes
        assert before.retain_accuracy(classes) - after.retain_accuracy(classes) <= 0.03, classes


def test_the_calibrated_strength_is_the_safety_multiple_of_a_threshold_on_the_grid(digits, digits_mlp):
    res = forget(digits_mlp.model, digits_mlp.codes, [5], mode="calibrated", calibration=digits.val, device="cpu")
    ratios = [res.strength / a for a in STRENGTHS]
    assert any(1 - 1e-6 <= r <= VAL_SAFETY * (1 + 1e-6) for r in ratios)
    data_free = forget(digits_mlp.model, digits_mlp.codes, [5], mode="classifier", device="cpu")
    assert any(abs(data_free.strength / a - CODE_SAFETY) < 1e-6 for a in STRENGTHS)
    assert data_free.calibration == {}


class _Negate(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -x


@pytest.mark.parametrize("mode", ["classifier", "calibrated"])
def test_negative_features_forget_like_their_mirror_image(digits_cnn, digits, mode):
    """A layer norm's output (a transformer's features) is signed, a ReLU's is not. Negating the features
    and the classifier's weights leaves every logit as it was, so forgetting must do the same on both;
    with an unsigned perturbation the negated model's class logit rose instead of falling."""
    import copy

    mirror = copy.deepcopy(digits_cnn.model)
    head = mirror.net.head
    last = head[3]
    with torch.no_grad():
        last.weight.neg_()
    mirror.net.head = nn.Sequential(*head[:3], _Negate(), last)
    x = to_floats(digits.test.images)
    with torch.no_grad():
        assert torch.allclose(mirror.eval()(x), digits_cnn.model.eval()(x), atol=1e-4)
    calibration = digits.val if mode == "calibrated" else None
    for classes in ([3], [1, 7]):
        a = forget(digits_cnn.model, digits_cnn.codes, classes, mode=mode, calibration=calibration, device="cpu")
        b = forget(mirror, digits_cnn.codes, classes, mode=mode, calibration=calibration, device="cpu")
        assert (a.sign, a.strength) == (b.sign, pytest.approx(b.strength))
        with torch.no_grad():  # features dead on every code have no sign to follow: agreement, not identity
            assert (a.model(x).argmax(1) == b.model(x).argmax(1)).float().mean() >= 0.99
        fa, fb = (evaluate(m.model, digits.test, 10, device="cpu") for m in (a, b))
        assert fb.forget_accuracy(classes) == pytest.approx(fa.forget_accuracy(classes), abs=0.01)
        assert fb.retain_accuracy(classes) == pytest.approx(fa.retain_accuracy(classes), abs=0.01)
