"""The stages an audit at every depth reads: at least four depths for every shipped architecture, input
side first, through the penultimate features (the MLP, with one hidden layer, also at its logits), each
pooled to one vector per image."""
from __future__ import annotations

import pytest
import torch

from unlearning.layers import penultimate
from unlearning.models import build_model
from unlearning.stages import LOGITS, PENULTIMATE, stage_features, stage_names

SHAPES = {"mlp": (1, 8, 8), "cnn": (1, 8, 8), "resnet8": (3, 16, 16), "vit": (1, 8, 8)}
# expected widths per stage, input side first (the MLP: pixels, pre-activation, sigmoid, logits)
WIDTHS = {"mlp": [64, 1000, 1000, 10], "cnn": [32, 64, 128, 128], "resnet8": [16, 16, 32, 64],
          "vit": [64, 64, 64, 64, 64]}


@pytest.mark.parametrize("arch", sorted(SHAPES))
def test_every_stage_pooled_in_order_through_the_penultimate(arch):
    torch.manual_seed(0)
    model = build_model(arch, SHAPES[arch], 10).eval()
    images = torch.rand(7, *SHAPES[arch])
    names = stage_names(model)
    feats = stage_features(model, images, "cpu", batch_size=3)  # batches must be stitched back in order
    assert list(feats) == names and len(names) >= 4  # issue 18: at least four depths per shipped model
    assert names[-1] == (LOGITS if arch == "mlp" else PENULTIMATE)
    assert len(set(names)) == len(names)  # human-readable and distinct: the app's chart labels them
    assert [f.shape[1] for f in feats.values()] == WIDTHS[arch]
    assert all(f.shape[0] == 7 and f.dtype == torch.float32 for f in feats.values())
    # the last depth is exactly what the headline probe reads
    assert torch.allclose(feats[PENULTIMATE], penultimate(model, images, "cpu"), atol=1e-6)
    if LOGITS in feats:  # the logits depth is the model's own output
        with torch.no_grad():
            assert torch.allclose(feats[LOGITS], model(images), atol=1e-5)
    # and each image's row does not depend on the batch it came in
    alone = stage_features(model, images[4:5], "cpu")
    for n in names:
        assert torch.allclose(alone[n][0], feats[n][4], atol=1e-5)


def test_resnet_stage_is_the_pooled_block_output():
    torch.manual_seed(0)
    model = build_model("resnet8", (3, 16, 16), 10).eval()
    images = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        x = model.normalize(images)
        stem = torch.relu(model.net.bn1(model.net.conv1(x)))
        s1 = model.net.layer1(stem)
    feats = stage_features(model, images, "cpu")
    assert torch.allclose(feats["stem"], stem.mean((2, 3)), atol=1e-6)
    assert torch.allclose(feats["stage 1"], s1.mean((2, 3)), atol=1e-6)


def test_the_mlp_depths_are_four_distinct_readouts():
    """Pre-activation, sigmoid and logits are different functions of the pixels, not copies of one another."""
    torch.manual_seed(0)
    model = build_model("mlp", (1, 8, 8), 10).eval()
    images = torch.rand(5, 1, 8, 8)
    feats = stage_features(model, images, "cpu")
    with torch.no_grad():
        pre = model.net.fc1(model.normalize(images).flatten(1))
    assert list(feats) == ["input", "fc1 pre-activation", PENULTIMATE, LOGITS]
    assert torch.allclose(feats["input"], model.normalize(images).flatten(1))
    assert torch.allclose(feats["fc1 pre-activation"], pre, atol=1e-6)
    assert torch.allclose(feats[PENULTIMATE], torch.sigmoid(pre), atol=1e-6)
    assert torch.allclose(feats[LOGITS], model.net.fc2(torch.sigmoid(pre)), atol=1e-5)
