import pytest
import torch

from unlearning.methods.forgetting import classifier_layer
from unlearning.models import ARCHITECTURES, ModelError, Resize, VisionTransformer, build_model, count_parameters


@pytest.mark.parametrize("arch", ["mlp", "cnn", "resnet18", "vit", "tv:resnet18", "tv:mobilenet_v3_small"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_every_architecture_maps_images_to_class_logits(arch, shape):
    model = build_model(arch, shape, 7)
    out = model(torch.rand(3, *shape))
    assert out.shape == (3, 7)
    assert torch.isfinite(out).all()


def test_the_paper_mlp_has_the_paper_shape():
    model = build_model("mlp", (1, 28, 28), 10)
    assert count_parameters(model) == 784 * 1000 + 1000 + 1000 * 10 + 10
    assert [n for n, _ in model.named_parameters()] == ["net.fc1.weight", "net.fc1.bias", "net.fc2.weight", "net.fc2.bias"]


def test_small_image_stem_keeps_resolution():
    model = build_model("resnet18", (1, 28, 28), 10)
    conv1 = model.net.conv1
    assert conv1.in_channels == 1 and conv1.stride == (1, 1) and conv1.kernel_size == (3, 3)
    assert isinstance(model.net.maxpool, torch.nn.Identity)


def test_normalisation_lives_inside_the_model_and_is_not_a_parameter():
    model = build_model("mlp", (1, 4, 4), 3, mean=(0.5,), std=(0.25,))
    assert "normalize.mean" not in model.state_dict()
    x = torch.full((1, 1, 4, 4), 0.5)
    assert torch.allclose(model.normalize(x), torch.zeros_like(x))


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(ModelError, match="unknown architecture"):
        build_model("transformer-xxl", (1, 28, 28), 10)
    with pytest.raises(ModelError, match="unknown torchvision"):
        build_model("tv:not_a_model", (3, 32, 32), 10)


def test_shapes_that_do_not_fit_are_refused():
    with pytest.raises(ModelError, match="input_shape"):
        build_model("mlp", (28, 28), 10)
    with pytest.raises(ModelError, match="1 .*or 3 channels"):
        build_model("tv:resnet18", (2, 28, 28), 10)
    with pytest.raises(ModelError, match="mean/std"):
        build_model("cnn", (3, 32, 32), 10, mean=(0.5,), std=(0.5,))
    with pytest.raises(ModelError, match="two classes"):
        build_model("mlp", (1, 8, 8), 1)


def test_the_small_vit_cuts_digits_into_sixteen_patches_and_ends_in_a_linear_head():
    model = build_model("vit", (1, 28, 28), 10)
    net = model.net
    assert isinstance(net, VisionTransformer)
    assert net.patch_embed.kernel_size == (7, 7) and net.pos_embed.shape == (1, 16, 64)
    assert len(net.blocks) == 4 and count_parameters(model) < 200_000
    name, layer = classifier_layer(model, torch.rand(2, 1, 28, 28))
    assert name == "net.head" and layer.out_features == 10
    assert build_model("vit", (3, 32, 32), 5).net.patch_embed.kernel_size == (8, 8)
    assert build_model("vit", (1, 8, 8), 3).net.pos_embed.shape[1] == 16


def test_the_small_vit_treats_samples_independently():
    """Per-sample Fisher sums assume no sample sees another: the attention mixes tokens, never images."""
    torch.manual_seed(0)
    model = build_model("vit", (1, 28, 28), 10).eval()
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        together, alone = model(x), torch.cat([model(x[i:i + 1]) for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-5)


def test_torchvision_vit_takes_28_pixel_digits_by_being_built_for_32():
    """torchvision's ViT asserts its image_size; it is built for the side rounded up to its patch and the
    digits are resized inside the model (issue 11 item 4)."""
    model = build_model("tv:vit_b_16", (1, 28, 28), 10)
    resize = next(m for m in model.modules() if isinstance(m, Resize))
    assert resize.size == (32, 32)
    vit = model.net[-1]
    assert vit.image_size == 32 and vit.patch_size == 16
    with torch.no_grad():
        assert model.eval()(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_torchvision_networks_that_shrink_small_images_to_nothing_get_a_resize_stage():
    model = build_model("tv:densenet121", (1, 28, 28), 4)  # three 2x transitions after a /4 stem: 28 px ends at 0
    assert [m.size for m in model.modules() if isinstance(m, Resize)] == [(32, 32)]
    assert not any(isinstance(m, Resize) for m in build_model("tv:resnet18", (1, 28, 28), 4).modules())
    with torch.no_grad():
        assert build_model("tv:inception_v3", (3, 8, 8), 10).eval()(torch.rand(2, 3, 8, 8)).shape == (2, 10)


def test_the_train_help_lists_every_architecture():
    from unlearning.cli import build_parser

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    text = next(a for a in train._actions if "--arch" in a.option_strings).help
    for arch in ARCHITECTURES:
        assert arch in text, arch
    assert "tv:" in text
