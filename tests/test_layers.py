"""unlearning/layers: the classifier layer is the linear layer that makes the logits."""
import pytest
import torch
from torch import nn

from unlearning.methods.forgetting import classifier_layer, forget
from unlearning.models import build_model


@pytest.mark.parametrize("arch,expected", [("mlp", "net.fc2"), ("cnn", "net.head.3"), ("resnet8", "net.fc"),
                                           ("resnet20", "net.fc")])
def test_the_classifier_layer_is_the_linear_layer_that_makes_the_logits(arch, expected):
    model = build_model(arch, (1, 28, 28), 10)
    name, layer = classifier_layer(model, torch.rand(1, 1, 28, 28))
    assert name == expected and isinstance(layer, nn.Linear) and layer.out_features == 10


def test_a_model_without_a_final_linear_layer_is_refused(digits_mlp):
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.Tanh())
    with pytest.raises(ValueError, match="linear layer"):
        classifier_layer(model, torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="linear layer"):
        forget(model, digits_mlp.codes, [2], mode="classifier")
