import pytest
import torch

from conftest import DEVICES
from unlearning.methods.fisher import EPS, check_classes, code_fisher, code_fisher_loop


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for n in a:
        # float32 sums in a different order: relative agreement, with a floor far below the values that matter
        scale = float(b[n].abs().max())
        torch.testing.assert_close(a[n].cpu(), b[n].cpu(), rtol=1e-3, atol=1e-6 * scale)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_batched_fisher_equals_the_per_class_loop_mlp(digits_mlp, device, chunk):
    batched = code_fisher(digits_mlp.model, digits_mlp.codes, [2, 5], device=device, chunk_size=chunk)
    loop = code_fisher_loop(digits_mlp.model, digits_mlp.codes, [2, 5], device=device)
    _assert_same(batched.forget, loop.forget)
    _assert_same(batched.remain, loop.remain)


@pytest.mark.parametrize("device", DEVICES)
def test_batched_fisher_equals_the_loop_with_batch_norm(digits_cnn, device):
    """Eval-mode batch norm: running statistics as trained, so both paths see the same network."""
    model = digits_cnn.model
    running = model.net.features[1].running_mean.clone()
    batched = code_fisher(model, digits_cnn.codes, [0], device=device, chunk_size=4)
    loop = code_fisher_loop(model, digits_cnn.codes, [0], device=device)
    _assert_same(batched.forget, loop.forget)
    _assert_same(batched.remain, loop.remain)
    assert torch.equal(model.net.features[1].running_mean, running)


def test_fisher_is_the_mean_squared_gradient_plus_eps(digits_mlp):
    model, codes = digits_mlp.model, digits_mlp.codes
    f = code_fisher(model, codes, [1])
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(codes[1:2]), torch.tensor([1])).backward()
    g = model.net.fc2.weight.grad
    torch.testing.assert_close(f.forget["net.fc2.weight"], g.square() + EPS)
    model.zero_grad(set_to_none=True)
    assert (f.remain["net.fc1.weight"] >= EPS).all()


def test_fisher_leaves_the_model_as_it_was(digits_mlp):
    model = digits_mlp.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    code_fisher(model, digits_mlp.codes, [3])
    assert model.training
    model.eval()
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


@pytest.mark.parametrize("classes, message", [
    ([], "at least one"), (list(range(10)), "every class"), ([10], "unknown class"), ([-1], "unknown class"),
    (["x"], "integers"),
])
def test_bad_class_lists_are_refused(classes, message):
    with pytest.raises(ValueError, match=message):
        check_classes(classes, 10)


def test_duplicates_are_merged_and_sorted():
    assert check_classes([3, 1, 3], 10) == [1, 3]
