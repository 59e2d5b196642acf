"""Closed-form erasure: no linear trace of the forgotten classes is left where it erases, and it is folded exactly."""
import pytest
import torch

from conftest import state_hash
from unlearning.methods import erasure
from unlearning.methods.forgetting import forget
from unlearning.evaluation.metrics import evaluate


def test_leace_leaves_no_linear_trace_of_the_concept():
    g = torch.Generator().manual_seed(0)
    z = (torch.rand(400, generator=g) < 0.2).double().view(-1, 1)
    x = torch.randn(400, 6, generator=g, dtype=torch.float64) + 3.0 * z @ torch.tensor([[1.0, -2.0, 0, 0, 0, 0.5]],
                                                                                            dtype=torch.float64)
    m, shift = erasure.leace(x, z, shrink=0.0)
    erased = x @ m.T + shift
    cov = (erased - erased.mean(0)).T @ (z - z.mean(0)) / len(z)
    assert cov.abs().max() < 1e-9  # no linear function of the erased x correlates with z
    assert torch.linalg.matrix_rank(torch.eye(6, dtype=torch.float64) - m) == 1  # rank of the concept


@pytest.mark.parametrize("arch", ["digits_mlp", "digits_cnn"])
def test_folding_the_eraser_into_the_weights_is_exact(arch, digits, request):
    ckpt = request.getfixturevalue(arch)
    x, y = digits.val.tensors()
    before = state_hash(ckpt.model)
    out, deltas, rank = erasure.erase(ckpt.model, x, y, [3], torch.device("cpu"))
    assert state_hash(ckpt.model) == before and rank == 1 and deltas
    sites = erasure.erasure_stages(ckpt.model)[-1]
    s0 = erasure.preactivations(ckpt.model, sites, x, torch.device("cpu"))
    s1 = erasure.preactivations(out, sites, x, torch.device("cpu"))
    m, shift = erasure.leace(s0, (y == 3).double().view(-1, 1))
    assert torch.allclose(s1, s0 @ m.T + shift, atol=1e-4)
    z = (y == 3).double()
    assert ((s1 - s1.mean(0)) * (z - z.mean()).view(-1, 1)).mean(0).abs().max() < 1e-4


def test_erase_mode_forgets_on_real_images_and_reports_what_it_moved(digits, digits_mlp):
    res = forget(digits_mlp.model, digits_mlp.codes, [3], calibration=digits.val, device="cpu")
    assert res.mode == "erase" and res.calibration["erased_rank"] == 1
    assert "erase" in res.seconds and res.seconds["total"] >= res.seconds["erase"]
    moved = {t.name: t.moved for t in res.tensors}
    assert moved["net.fc1.weight"] > 0 and moved["net.fc2.weight"] > 0
    before, after = evaluate(digits_mlp.model, digits.test, 10), evaluate(res.model, digits.test, 10)
    assert after.forget_accuracy([3]) <= 0.05
    assert after.retain_accuracy([3]) >= before.retain_accuracy([3]) - 0.05


def test_an_architecture_without_an_erasure_site_says_so(digits):
    from unlearning.pipeline import train_new_model
    from unlearning.training import TrainConfig

    ckpt, _, _ = train_new_model(digits, "resnet20", TrainConfig(epochs=1, seed=0))
    with pytest.raises(ValueError, match="identity shortcuts"):
        erasure.erasure_stages(ckpt.model)
    res = forget(ckpt.model, ckpt.codes, [3], calibration=digits.val, device="cpu")
    assert any("features not erased" in n for n in res.notes)


def test_too_few_validation_images_are_not_erased_with(digits, digits_mlp):
    x, y = digits.val.tensors()
    few = torch.cat([torch.nonzero(y == c).flatten()[:6] for c in range(10)])
    with pytest.raises(ValueError, match="at least 8"):
        erasure.erase(digits_mlp.model, x[few], y[few], [3], torch.device("cpu"))
    res = forget(digits_mlp.model, digits_mlp.codes, [3], calibration=(x[few], y[few]), device="cpu")
    assert any("features not erased" in n for n in res.notes)
