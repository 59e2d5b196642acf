import pytest
import torch

from unlearning.models import ModelError, build_model, count_parameters


@pytest.mark.parametrize("arch", ["mlp", "cnn", "resnet18", "tv:resnet18", "tv:mobilenet_v3_small"])
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
    with pytest.raises(ModelError, match="cannot take inputs"):
        build_model("tv:inception_v3", (3, 8, 8), 10)
    with pytest.raises(ModelError, match="mean/std"):
        build_model("cnn", (3, 32, 32), 10, mean=(0.5,), std=(0.5,))
    with pytest.raises(ModelError, match="two classes"):
        build_model("mlp", (1, 8, 8), 1)
