"""The synthetic colour dataset: written in the real on-disk formats, read back by the real loaders,
and the colour recipe end to end through the command line (codes learnt, a class forgotten)."""
import numpy as np
import pytest
import torch

from unlearning.storage.checkpoints import load_checkpoint
from unlearning.cli import main
from unlearning.data import CIFAR10_NAMES, load_dataset
from unlearning.methods.forgetting import DEFAULT_MODE
from unlearning.pipeline import FORGOTTEN_AT_MOST, RETAIN_DROP_AT_MOST, forget_and_evaluate
from unlearning.synthetic import class_images, main as write_main, write_cifar10, write_cifar100, write_imagefolder
from unlearning.training import CODES_LEARNED_AT_LEAST, RECIPE_DEFAULTS


def test_class_images_are_seeded_and_each_class_has_its_own_colour():
    x, y = class_images(10, 6, seed=1, size=16)
    assert x.dtype == np.uint8 and x.shape == (60, 3, 16, 16) and np.bincount(y).tolist() == [6] * 10
    assert np.array_equal(x, class_images(10, 6, seed=1, size=16)[0])
    assert not np.array_equal(x, class_images(10, 6, seed=2, size=16)[0])
    colours = np.stack([x[y == c].mean(axis=(0, 2, 3)) for c in range(10)])  # mean RGB per class
    gaps = np.linalg.norm(colours[:, None] - colours[None], axis=-1)[~np.eye(10, dtype=bool)]
    assert gaps.min() > 10  # distinct colours (of 255)
    assert x[y == 0].std(axis=0).mean() > 10  # images of one class differ from each other


def test_cifar10_writer_is_read_by_the_cifar10_loader(tmp_path):
    write_cifar10(tmp_path, per_class=(6, 3), seed=0)
    s = load_dataset("cifar10", root=str(tmp_path))
    assert s.info.class_names == CIFAR10_NAMES and s.info.input_shape == (3, 32, 32)
    assert len(s.train) + len(s.val) == 60 and len(s.test) == 30
    expected, _ = class_images(10, 3, seed=1)
    assert torch.equal(s.test.images, torch.from_numpy(expected))  # the test batch, pixel for pixel


def test_cifar100_writer_is_read_by_the_cifar100_loader(tmp_path):
    write_cifar100(tmp_path, per_class=(2, 1))
    s = load_dataset("cifar100", root=str(tmp_path))
    assert s.info.num_classes == 100 and s.info.class_names[7] == "synthetic_07"
    assert len(s.test) == 100 and sorted(s.test.labels.tolist()) == list(range(100))


def test_imagefolder_writer_and_its_command_line(tmp_path, capsys):
    assert write_main(["imagefolder", str(tmp_path), "--train-per-class", "3", "--test-per-class", "2"]) == 0
    s = load_dataset("imagefolder", root=str(tmp_path))
    assert s.info.class_names == tuple(sorted(CIFAR10_NAMES[:5])) and len(s.test) == 10
    assert sorted((tmp_path / "train" / "bird").iterdir())[0].suffix == ".png"
    write_imagefolder(tmp_path / "again", per_class=(3, 2))
    assert torch.equal(load_dataset("imagefolder", root=str(tmp_path / "again")).test.images, s.test.images)


def test_colour_recipe_learns_the_codes_and_forgets_a_class(tmp_path, capsys):
    """`train` on colour data takes the colour defaults; the model knows its codes; forgetting works."""
    write_cifar10(tmp_path, per_class=(30, 20), seed=0)
    out = tmp_path / "colour.safetensors"
    torch.manual_seed(0)
    assert main(["train", "--dataset", "cifar10", "--data-root", str(tmp_path), "--arch", "cnn", "--epochs", "8",
                 "--batch-size", "32", "--device", "cpu", "--out", str(out)]) == 0
    assert "warning" not in capsys.readouterr().err
    ckpt = load_checkpoint(out)
    training = ckpt.meta["training"]
    assert training["defaults"] == {"data": "colour", "taken": ["lr", "t_mix", "schedule"]}
    assert {k: training[k] for k in RECIPE_DEFAULTS["colour"]} == RECIPE_DEFAULTS["colour"]
    assert ckpt.meta["code_accuracy"] >= CODES_LEARNED_AT_LEAST and ckpt.meta["test_accuracy"] > 0.9
    splits = load_dataset("cifar10", root=str(tmp_path))
    for c in (0, 6):
        o = forget_and_evaluate(ckpt, splits.test, [c], mode=DEFAULT_MODE, calibration=splits.val)
        assert o.after.forget_accuracy([c]) <= FORGOTTEN_AT_MOST
        assert o.before.retain_accuracy([c]) - o.after.retain_accuracy([c]) <= RETAIN_DROP_AT_MOST
        assert not any(n.startswith("warning") for n in o.result.notes)
