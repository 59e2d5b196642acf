import torch
from torch.utils.data import DataLoader, TensorDataset

from unlearning.codes import MnemonicMix, make_codes


def test_codes_are_seeded_uniform_and_input_shaped():
    a = make_codes(10, (1, 28, 28), seed=3)
    b = make_codes(10, (1, 28, 28), seed=3)
    c = make_codes(10, (1, 28, 28), seed=4)
    assert a.shape == (10, 1, 28, 28)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() < 1
    assert abs(float(a.mean()) - 0.5) < 0.02
    # distinct per class
    assert not torch.equal(a[0], a[1])


def test_make_codes_does_not_touch_the_global_rng():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    make_codes(5, (3, 8, 8), seed=1)
    assert torch.equal(torch.rand(3), expected)


def _toy(n=2000, classes=4):
    x = torch.full((n, 1, 4, 4), -1.0)  # real samples are recognisably not codes (codes are >= 0)
    y = torch.arange(n) % classes
    return TensorDataset(x, y), make_codes(classes, (1, 4, 4), seed=0)


def test_mix_swaps_about_t_mix_of_the_samples_for_their_own_class_code():
    ds, codes = _toy()
    mix = MnemonicMix(ds, codes, t_mix=0.3, seed=1)
    swapped = 0
    for i in range(len(mix)):
        x, y = mix[i]
        if x.min() >= 0:
            assert torch.equal(x, codes[int(y)])
            swapped += 1
    assert 0.26 < swapped / len(mix) < 0.34


def test_mix_is_reproducible_per_epoch_and_changes_between_epochs():
    ds, codes = _toy()
    a, b = MnemonicMix(ds, codes, 0.2, seed=5), MnemonicMix(ds, codes, 0.2, seed=5)
    assert torch.equal(a.swap, b.swap)
    first = a.swap.clone()
    a.set_epoch(1)
    assert not torch.equal(first, a.swap)
    a.set_epoch(0)
    assert torch.equal(first, a.swap)


def test_mix_gives_the_same_batches_with_and_without_workers():
    ds, codes = _toy(n=256)
    mix = MnemonicMix(ds, codes, 0.5, seed=2)

    def batches(workers):
        loader = DataLoader(mix, batch_size=64, shuffle=False, num_workers=workers)
        return [x for x, _ in loader]

    for single, multi in zip(batches(0), batches(2)):
        assert torch.equal(single, multi)


def test_t_mix_extremes_and_bounds():
    ds, codes = _toy(n=100)
    assert not MnemonicMix(ds, codes, 0.0).swap.any()
    assert MnemonicMix(ds, codes, 1.0).swap.all()
    import pytest

    with pytest.raises(ValueError):
        MnemonicMix(ds, codes, 1.5)
    with pytest.raises(ValueError):
        make_codes(0, (1, 2, 2), seed=0)
