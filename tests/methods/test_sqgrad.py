"""The closed-form squared-gradient sums equal per-sample autograd, layer type by layer type."""
import pytest
import torch
from torch import nn

from unlearning.models import build_model
from unlearning.methods.sqgrad import _candidates, weighted_sq_grad_sums


def reference_sums(model, x, y, w):
    """One backward per sample, squared, weighted: the definition, slowly."""
    out = {n: torch.zeros(w.shape[0], *p.shape) for n, p in model.named_parameters()}
    for i in range(len(x)):
        model.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        for n, p in model.named_parameters():
            if p.grad is not None:
                out[n] += w[:, i].view(-1, *([1] * p.dim())) * p.grad.square()
    model.zero_grad(set_to_none=True)
    return out


def check(model, x, y, strategy="auto"):
    model.eval()
    w = torch.rand(2, len(x))
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    got = weighted_sq_grad_sums(model, params, buffers, x, y, w, strategy=strategy)
    want = reference_sums(model, x, y, w)
    assert got.keys() == want.keys()
    for n in want:
        scale = float(want[n].abs().max())
        torch.testing.assert_close(got[n], want[n], rtol=1e-3, atol=1e-6 * scale + 1e-30)


def _with_running_stats(model, shape):
    model.train()
    with torch.no_grad():
        model(torch.rand(16, *shape))
    return model.eval()


@pytest.mark.parametrize("arch, shape", [("mlp", (1, 8, 8)), ("cnn", (1, 16, 16)), ("resnet18", (3, 8, 8))])
@pytest.mark.parametrize("strategy", ["auto", "vmap"])
def test_zoo_architectures(arch, shape, strategy):
    torch.manual_seed(0)
    model = _with_running_stats(build_model(arch, shape, 5), shape)
    check(model, torch.rand(6, *shape), torch.arange(6) % 5, strategy)


def test_every_resnet_parameter_has_a_closed_form():
    """ResNet-18 has only convolutions, batch norms and a linear head: vmap is never needed."""
    model = build_model("resnet18", (3, 8, 8), 5).eval()
    covered = {f"{m}.{p}" for m, mod in _candidates(model).items() for p, _ in mod.named_parameters(recurse=False)}
    assert covered == {n for n, _ in model.named_parameters()}


class Tokens(nn.Module):
    """Linear on [B, T, d] inputs, a layer norm (vmap path) and a module called twice."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(4, 6)
        self.norm = nn.LayerNorm(6)
        self.mix = nn.Linear(6, 6)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        h = self.norm(self.embed(x.view(len(x), 4, 4)))
        h = torch.tanh(self.mix(torch.tanh(self.mix(h))))  # same module twice: no closed form
        return self.head(h.mean(1))


def test_token_linears_layer_norm_and_reused_modules():
    torch.manual_seed(0)
    check(Tokens(), torch.rand(5, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1]))


class Tied(nn.Module):
    """One weight shared by two layers: neither may use the closed form."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(5, 5)
        self.b = nn.Linear(5, 5)
        self.b.weight = self.a.weight
        self.out = nn.Linear(5, 3)

    def forward(self, x):
        return self.out(torch.relu(self.b(torch.relu(self.a(x.flatten(1))))))


def test_shared_weights_fall_back_to_vmap():
    torch.manual_seed(0)
    model = Tied()
    assert "a" not in _candidates(model) and "b" not in _candidates(model) and "out" in _candidates(model)
    check(model, torch.rand(4, 1, 1, 5), torch.tensor([0, 1, 2, 1]))


def test_the_model_gets_no_gradients_and_keeps_no_hooks():
    torch.manual_seed(0)
    model = build_model("cnn", (1, 12, 12), 4).eval()
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    weighted_sq_grad_sums(model, params, buffers, torch.rand(3, 1, 12, 12), torch.tensor([0, 1, 2]),
                          torch.ones(1, 3))
    assert all(p.grad is None for p in model.parameters())
    assert all(not m._forward_hooks for m in model.modules())


def test_unknown_strategy_is_refused():
    model = build_model("mlp", (1, 4, 4), 3)
    with pytest.raises(ValueError, match="strategy"):
        weighted_sq_grad_sums(model, dict(model.named_parameters()), {}, torch.rand(2, 1, 4, 4),
                              torch.tensor([0, 1]), torch.ones(1, 2), strategy="magic")


def test_conv_sums_in_small_scratch_pieces_and_both_conv_routes(monkeypatch):
    """Per-sample conv gradients go through the reused buffer one sample at a time when it is small,
    and through the grouped convolution on large feature maps: the sums stay the same."""
    import unlearning.methods.sqgrad as sqgrad

    torch.manual_seed(0)
    model = _with_running_stats(build_model("cnn", (1, 16, 16), 4), (1, 16, 16))
    x, y = torch.rand(5, 1, 16, 16), torch.tensor([0, 1, 2, 3, 0])
    monkeypatch.setattr(sqgrad, "SCRATCH_FLOATS", 1)  # one sample at a time
    check(model, x, y)
    monkeypatch.setattr(sqgrad, "GROUPED_CONV_MIN_POSITIONS", 10**9)  # unfold for every layer
    check(model, x, y)
    monkeypatch.setattr(sqgrad, "GROUPED_CONV_MIN_POSITIONS", 1)  # grouped convolution for every layer
    check(model, x, y)


class KeywordCall(nn.Module):
    """A layer called with a keyword argument: its forward hook sees no positional input."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 5)
        self.out = nn.Linear(5, 3)

    def forward(self, x):
        return self.out(torch.tanh(self.a(input=x.flatten(1))))


def test_a_layer_called_by_keyword_falls_back_to_vmap():
    torch.manual_seed(0)
    check(KeywordCall(), torch.rand(4, 1, 2, 2), torch.tensor([0, 1, 2, 1]))
