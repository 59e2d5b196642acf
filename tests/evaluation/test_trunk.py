"""unlearning.evaluation.trunk: an edited copy evaluated from the original's kept activations gives the full pass's answer,
and anything the trunk cannot vouch for runs in full."""
import copy

import pytest
import torch
from torch import nn

from unlearning.evaluation import trunk
from unlearning.data import ImageTensors
from unlearning.evaluation.metrics import evaluate, predict
from unlearning.models import build_model


def _images(n: int = 96, seed: int = 0) -> ImageTensors:
    g = torch.Generator().manual_seed(seed)
    return ImageTensors(torch.randint(0, 256, (n, 1, 16, 16), dtype=torch.uint8, generator=g),
                        torch.randint(0, 4, (n,), generator=g))


def _model(arch: str) -> nn.Module:
    torch.manual_seed(0)
    return build_model(arch, (1, 16, 16), 4).eval()


def _nudge(model: nn.Module, names: list[str]) -> nn.Module:
    """A copy with the named parameters changed (as an edit of those layers would)."""
    edited = copy.deepcopy(model)
    params = dict(edited.named_parameters())
    with torch.no_grad():
        for n in names:
            params[n].add_(0.3 * torch.randn_like(params[n]))
    return edited


LAST_BLOCK = ["net.layer3.0.conv2.weight", "net.layer3.0.bn2.bias", "net.layer3.0.shortcut.0.weight",
              "net.layer3.0.shortcut.1.bias", "net.fc.weight"]  # where erase edits ResNet-8


@pytest.mark.parametrize("arch, names", [("resnet8", LAST_BLOCK), ("cnn", ["net.head.3.weight"]),
                                         ("vit", ["net.head.weight", "net.head.bias"])])
def test_the_tail_gives_the_full_pass_answer(arch, names):
    original, images = _model(arch), _images()
    edited = _nudge(original, names)
    changed = trunk.changed_names(original, edited)
    assert changed == frozenset(names)
    kept = trunk.build(original, images, changed, batch_size=32)
    assert kept is not None and kept.covers(edited, images)
    assert all(len(v) == len(images) for v in kept.values)
    full, labels = predict(edited, images)
    tail = trunk.tail_logits(kept, edited)
    torch.testing.assert_close(tail, full, rtol=1e-4, atol=1e-5)
    assert evaluate(edited, images, 4, trunk=kept).confusion.tolist() == evaluate(edited, images, 4).confusion.tolist()


def test_the_resnet_trunk_keeps_what_flows_into_the_last_block_only():
    original, images = _model("resnet8"), _images()
    kept = trunk.build(original, images, frozenset(LAST_BLOCK))
    # the last block's input (stage 2) and its unchanged first convolution's output: nothing from the stem
    assert [tuple(v.shape[1:]) for v in kept.values] == [(32, 8, 8), (64, 4, 4)]


def test_an_edit_outside_the_trunk_runs_in_full():
    original, images = _model("resnet8"), _images()
    kept = trunk.build(original, images, frozenset(LAST_BLOCK))
    elsewhere = _nudge(original, ["net.layer1.0.conv1.weight"])
    assert not kept.covers(elsewhere, images)
    assert evaluate(elsewhere, images, 4, trunk=kept).confusion.tolist() == evaluate(elsewhere, images, 4
                                                                                     ).confusion.tolist()
    # a changed buffer (batch-norm statistics) counts as an edit too
    stats = copy.deepcopy(original)
    stats.net.bn1.running_mean.add_(1.0)
    assert not kept.covers(stats, images)


def test_other_images_are_not_read_from_the_trunk():
    original, images = _model("cnn"), _images()
    kept = trunk.build(original, images, frozenset(["net.head.3.weight"]))
    edited = _nudge(original, ["net.head.3.weight"])
    assert kept.covers(edited, images)
    assert not kept.covers(edited, _images(seed=1))


def test_no_trunk_where_it_saves_nothing_or_costs_too_much():
    original, images = _model("cnn"), _images()
    everything = frozenset(n for n, _ in original.named_parameters())
    assert trunk.build(original, images, everything) is None  # the edit reaches every layer
    assert trunk.build(original, images, frozenset(["net.head.3.weight"]), max_bytes=1000) is None


class _Branchy(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(256, 4)

    def forward(self, x):
        x = x.flatten(1)
        return self.fc(x) if x.sum() > 0 else -self.fc(x)


def test_an_untraceable_model_has_no_trunk():
    assert trunk.build(_Branchy(), _images(), frozenset(["fc.weight"])) is None


def test_a_different_network_has_no_changed_names():
    assert trunk.changed_names(_model("cnn"), _model("resnet8")) is None
