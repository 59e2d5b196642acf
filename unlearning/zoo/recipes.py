"""The recipes of the shipped models: how each one is trained, as plain values stored verbatim in its card."""
from __future__ import annotations

from dataclasses import dataclass

from ..training import TrainConfig

TRAIN_THREADS = 1  # the thread count the zoo is trained with: part of what makes a rebuild bit-identical
MAX_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Recipe:
    """How one shipped model is made: plain values, stored verbatim in its card."""

    name: str  # file stem in assets/models
    arch: str
    config: TrainConfig
    title: str
    architecture: str  # one line for people
    why: str  # what the model is in the zoo for
    dataset: str = "mnist5k"  # a name of ``data.LOADERS``; the full-size models read Debian's Fashion-MNIST


RECIPES: tuple[Recipe, ...] = (
    Recipe("mlp-mnist5k", "mlp", TrainConfig(epochs=200, t_mix=0.1, seed=0),
           "Paper MLP",
           "784-1000-10 multilayer perceptron with a sigmoid hidden layer (the paper's MNIST model)",
           "The paper's own MNIST setting (200 epochs, t_mix 0.1, SGD lr 0.01): the published rule works here on "
           "most digits."),
    Recipe("cnn-mnist5k", "cnn", TrainConfig(epochs=30, t_mix=0.1, seed=0),
           "Small CNN",
           "two 3x3 conv blocks (32, 64 channels, batch norm, ReLU), a 128-unit ReLU layer, a linear classifier",
           "A small ReLU CNN, the kind of model on which the published rule forgets the codes but not the digits."),
    Recipe("resnet8-mnist5k", "resnet8", TrainConfig(epochs=30, t_mix=0.3, lr=0.05, schedule="cosine", seed=0),
           "ResNet-8",
           "CIFAR-style ResNet-8 (He et al.): 3x3 stem, three stages of one basic block at widths 16/32/64, "
           "global average pooling, a linear classifier",
           "A residual network with batch norm, small enough to train on a laptop CPU in a few minutes; the paper's "
           "ResNet recipe (t_mix 0.3, cosine schedule) with lr 0.05 for 30 epochs instead of 200."),
    Recipe("vit-mnist5k", "vit", TrainConfig(epochs=60, t_mix=0.1, lr=0.05, schedule="cosine", seed=0),
           "Small ViT",
           "vision transformer: 7x7 patches (16 tokens) embedded to width 64 with learnt positions, four pre-norm "
           "encoder blocks (4 heads, MLP 128), final layer norm, mean pooling, a linear classifier",
           "A transformer, as in the paper's Swin-T claim, small enough to train on one CPU thread in a few "
           "minutes; attention and layer norms instead of convolutions and batch norm below the same linear head."),
    # The full-size zoo: all 60,000 Fashion-MNIST training images (54,000 train, 6,000 validation carved with
    # seed 0), the official 10,000 test images untouched. Epochs chosen so that a rebuild of all four fits in
    # about 20 minutes of one CPU thread (measured: ~3 s, 35 s, 60 s and 16 s per epoch).
    Recipe("mlp-fashion", "mlp", TrainConfig(epochs=40, t_mix=0.1, seed=0),
           "Paper MLP, Fashion-MNIST",
           "784-1000-10 multilayer perceptron with a sigmoid hidden layer (the paper's MNIST model)",
           "The paper's MNIST model and recipe (t_mix 0.1, SGD lr 0.01) on the full-size Fashion-MNIST, 40 epochs "
           "instead of 200.", dataset="fashion-mnist"),
    Recipe("cnn-fashion", "cnn", TrainConfig(epochs=8, t_mix=0.1, seed=0),
           "Small CNN, Fashion-MNIST",
           "two 3x3 conv blocks (32, 64 channels, batch norm, ReLU), a 128-unit ReLU layer, a linear classifier",
           "The digits CNN's recipe on the full-size Fashion-MNIST, 8 epochs.", dataset="fashion-mnist"),
    Recipe("resnet8-fashion", "resnet8", TrainConfig(epochs=6, t_mix=0.3, lr=0.05, schedule="cosine", seed=0),
           "ResNet-8, Fashion-MNIST",
           "CIFAR-style ResNet-8 (He et al.): 3x3 stem, three stages of one basic block at widths 16/32/64, "
           "global average pooling, a linear classifier",
           "The full-size default: the digits ResNet-8 recipe (t_mix 0.3, cosine from lr 0.05) on all 60,000 "
           "Fashion-MNIST training images, 6 epochs (about 6 minutes on one CPU thread).", dataset="fashion-mnist"),
    Recipe("vit-fashion", "vit", TrainConfig(epochs=15, t_mix=0.1, lr=0.05, schedule="cosine", seed=0),
           "Small ViT, Fashion-MNIST",
           "vision transformer: 7x7 patches (16 tokens) embedded to width 64 with learnt positions, four pre-norm "
           "encoder blocks (4 heads, MLP 128), final layer norm, mean pooling, a linear classifier",
           "The digits ViT's recipe on the full-size Fashion-MNIST, 15 epochs.", dataset="fashion-mnist"),
)
FULL_SIZE_DEFAULT = "resnet8-fashion"  # the full-size model the references, benchmarks and speed claims use


def recipe(name: str) -> Recipe:
    for r in RECIPES:
        if r.name == name:
            return r
    raise KeyError(f"no zoo recipe named {name!r}; the zoo has {[r.name for r in RECIPES]}")
