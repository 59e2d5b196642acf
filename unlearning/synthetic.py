"""A synthetic colour dataset written in the real on-disk formats, for tests and documentation.

No colour data ships inside any package this project may depend on, so the colour paths (CIFAR-10,
CIFAR-100, ImageFolder) are exercised on images made here: each class has its own colour and its own
striped texture (orientation and frequency), and every image varies in phase, brightness, tint and
noise, so a small CNN learns them in seconds but not from one pixel. The files are written exactly
as ``unlearning.data`` reads the real datasets: CIFAR's python-version pickled batches (bytes keys,
as in the official archive) and ``<root>/train/<class>/*.png`` folders.

    python -m unlearning.synthetic cifar10 data/       # then: python -m unlearning train --dataset cifar10 --data-root data
"""
from __future__ import annotations

import argparse
import colorsys
import math
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .data import CIFAR10_FORMAT, CIFAR10_NAMES, CIFAR100_FORMAT

SIDE = 32  # the CIFAR formats are 32 x 32; the ImageFolder loader resizes to 32 by default too


def class_images(num_classes: int, per_class: int, seed: int, size: int = SIDE) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` images of each class as uint8 ``[N, 3, size, size]`` and int64 labels (class-major order).

    Class c: hue ``(c % 10) / 10`` (shifted by ``c // 10`` for more than ten classes) and a sinusoidal
    grating whose orientation and frequency depend on c. Per image: random phase, brightness, tint and
    pixel noise, all from ``seed``.
    """
    if num_classes < 2 or per_class < 1 or size < 4:
        raise ValueError(f"need num_classes >= 2, per_class >= 1, size >= 4; got {num_classes}, {per_class}, {size}")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    images, labels = [], []
    for c in range(num_classes):
        hue = ((c % 10) / 10 + 0.037 * (c // 10)) % 1.0
        colour = np.array(colorsys.hsv_to_rgb(hue, 0.75, 0.85))
        angle = math.pi * ((c * 0.618034) % 1.0)
        freq = 2.0 + 3.0 * ((c * 0.381966) % 1.0)
        along = np.cos(angle) * xx + np.sin(angle) * yy
        for _ in range(per_class):
            phase = rng.uniform(0, 2 * math.pi)
            stripes = 0.5 + 0.5 * np.sin(2 * math.pi * freq * along + phase)  # [H, W] in [0, 1]
            brightness = rng.uniform(0.7, 1.1)
            tint = colour + rng.normal(0, 0.06, 3)
            img = brightness * (0.35 + 0.65 * stripes)[None] * tint[:, None, None]
            img = img + rng.normal(0, 0.08, img.shape)
            images.append(np.clip(np.round(255 * img), 0, 255).astype(np.uint8))
            labels.append(c)
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _dump(obj: dict, path: Path) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=2))


def _rows(images: np.ndarray) -> np.ndarray:
    """``[N, 3, 32, 32]`` as CIFAR stores it: one row per image, 1024 red, then green, then blue values."""
    return np.ascontiguousarray(images.reshape(len(images), -1))


def write_cifar10(root: str | Path, per_class: tuple[int, int] = (60, 20), seed: int = 0,
                  batches: int = 5) -> Path:
    """``<root>/cifar-10-batches-py/`` with ``data_batch_1..batches``, ``test_batch`` and ``batches.meta``.

    ``per_class`` = (train, test) images per class; the train images are dealt over the batches.
    The CIFAR-10 loader expects all five training batches, so ``batches`` is 5 unless a test wants less.
    """
    folder = Path(root) / CIFAR10_FORMAT.folder
    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y = class_images(10, per_class[0], seed)
    test_x, test_y = class_images(10, per_class[1], seed + 1)
    order = np.random.default_rng(seed).permutation(len(train_y))
    for i, part in enumerate(np.array_split(order, batches), start=1):
        _dump({b"batch_label": f"training batch {i} of {batches}".encode(), b"labels": train_y[part].tolist(),
               b"data": _rows(train_x[part]), b"filenames": [f"s{j}.png".encode() for j in part]},
              folder / f"data_batch_{i}")
    _dump({b"batch_label": b"testing batch 1 of 1", b"labels": test_y.tolist(), b"data": _rows(test_x),
           b"filenames": [f"t{j}.png".encode() for j in range(len(test_y))]}, folder / "test_batch")
    _dump({b"num_cases_per_batch": int(math.ceil(len(train_y) / batches)),
           b"label_names": [n.encode() for n in CIFAR10_NAMES], b"num_vis": 3072}, folder / "batches.meta")
    return folder


def write_cifar100(root: str | Path, per_class: tuple[int, int] = (10, 4), seed: int = 0) -> Path:
    """``<root>/cifar-100-python/`` with ``train``, ``test`` and ``meta`` (fine and coarse labels)."""
    folder = Path(root) / CIFAR100_FORMAT.folder
    folder.mkdir(parents=True, exist_ok=True)
    for name, n, s in (("train", per_class[0], seed), ("test", per_class[1], seed + 1)):
        x, y = class_images(100, n, s)
        _dump({b"filenames": [f"{name}{j}.png".encode() for j in range(len(y))], b"batch_label": name.encode(),
               b"fine_labels": y.tolist(), b"coarse_labels": (y // 5).tolist(), b"data": _rows(x)}, folder / name)
    _dump({b"fine_label_names": [f"synthetic_{i:02d}".encode() for i in range(100)],
           b"coarse_label_names": [f"group_{i:02d}".encode() for i in range(20)]}, folder / "meta")
    return folder


def write_imagefolder(root: str | Path, class_names: Sequence[str] = CIFAR10_NAMES[:5],
                      per_class: tuple[int, int] = (40, 10), seed: int = 0, size: int = SIDE) -> Path:
    """``<root>/train/<class>/*.png`` and ``<root>/test/<class>/*.png``; returns ``root``."""
    from PIL import Image

    root = Path(root)
    for part, n, s in (("train", per_class[0], seed), ("test", per_class[1], seed + 1)):
        x, y = class_images(len(class_names), n, s, size)
        for i, (img, c) in enumerate(zip(x, y)):
            folder = root / part / class_names[c]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img.transpose(1, 2, 0)).save(folder / f"{i:05d}.png")
    return root


PER_CLASS = {"cifar10": (60, 20), "cifar100": (10, 4), "imagefolder": (40, 10)}  # (train, test)
WRITERS = {"cifar10": write_cifar10, "cifar100": write_cifar100, "imagefolder": write_imagefolder}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m unlearning.synthetic",
                                description="Write the synthetic colour dataset in a real on-disk format.")
    p.add_argument("format", choices=sorted(WRITERS))
    p.add_argument("root", help="the data root (the folder --data-root names)")
    p.add_argument("--train-per-class", type=int, default=None)
    p.add_argument("--test-per-class", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    writer = WRITERS[args.format]
    kwargs: dict = {"seed": args.seed}
    if args.train_per_class or args.test_per_class:
        default = PER_CLASS[args.format]
        kwargs["per_class"] = (args.train_per_class or default[0], args.test_per_class or default[1])
    print(writer(args.root, **kwargs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
