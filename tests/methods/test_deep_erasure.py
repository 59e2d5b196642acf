"""Erasure at every stage: every architecture gets sites, each eraser leaves no linear trace where it acts,
the early stages lose the class, the input model is untouched and the sample read is bounded."""
import numpy as np
import pytest
import torch

from conftest import state_hash
from unlearning.methods import deep_erasure
from unlearning.methods.classifier_edit import VALIDATION_PER_CLASS
from unlearning.methods.forgetting import MODES, NEEDS_VALIDATION, forget
from unlearning.models import build_model

CPU = torch.device("cpu")


@pytest.mark.parametrize("arch,kinds", [("mlp", 1), ("cnn", 3), ("resnet8", 6), ("vit", 1)])
def test_every_shipped_architecture_gets_sites_at_several_depths(arch, kinds):
    model = build_model(arch, (1, 28, 28), 10)
    sites = deep_erasure.deep_sites(model)
    assert len(sites) == kinds  # MLP: its one hidden layer; ViT: its residual stream, every depth at once
    names = dict(model.named_modules())
    for s in sites:
        if isinstance(s, deep_erasure.StreamSite):
            assert s.embedding.conv in names and s.embedding.position in dict(model.named_parameters())
            depth = len(model.net.blocks)
            assert len(s.reads) == depth and len(s.writers) == 2 * depth
            assert all(n in names for n in (*s.reads, *s.writers))
            continue
        for n in [x for site in s for x in (site.linear, site.norm) if x]:
            assert n in names


def test_mode_is_registered_and_needs_validation():
    assert "deep-erase" in MODES and "deep-erase" in NEEDS_VALIDATION


def _probe_accuracy(feats: np.ndarray, is_f: np.ndarray) -> float:
    """Balanced accuracy of a linear probe (fitted and scored on the same images) for forgotten vs the rest."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(feats)
    pred = LogisticRegression(max_iter=500, class_weight="balanced").fit(x, is_f).predict(x)
    return 0.5 * ((pred[is_f] == 1).mean() + (pred[~is_f] == 0).mean())


def test_every_site_is_left_without_a_linear_trace_and_the_input_model_is_untouched(digits, digits_cnn):
    x, y = digits.val.tensors()

    before = state_hash(digits_cnn.model)
    out, deltas, ranks = deep_erasure.deep_erase(digits_cnn.model, x, y, [3], CPU, strength=1.0)
    assert state_hash(digits_cnn.model) == before
    assert ranks == [1, 1, 1] and deltas
    for site in deep_erasure.deep_sites(out):
        rows, owner = deep_erasure.site_samples(out, site, x, CPU)
        z = (y[owner] == 3).double()
        assert ((rows - rows.mean(0)) * (z - z.mean()).view(-1, 1)).mean(0).abs().max() < 1e-3


def test_the_last_site_is_erased_in_full_and_the_penultimate_probe_falls_further(digits, digits_cnn):
    """A depth-dependent scale: sites below the last go ``STRENGTH`` of the way, the last one (what the penultimate
    features come from) all the way, so a 10-shot probe there reads the forgotten digit less than at half strength
    (here 0.94 -> 0.72, against 0.89 at half strength)."""
    from unlearning.evaluation import audit

    x, y = digits.val.tensors()
    below, at_last = deep_erasure.STRENGTH, deep_erasure.LAST_STRENGTH
    assert at_last == 1.0 and below < 1.0
    full, _, _ = deep_erasure.deep_erase(digits_cnn.model, x, y, [3], CPU, strength=below, last=at_last)
    half, _, _ = deep_erasure.deep_erase(digits_cnn.model, x, y, [3], CPU, strength=below, last=below)

    def trace(model, site):
        rows, owner = deep_erasure.site_samples(model, site, x, CPU)
        z = (y[owner] == 3).double()
        return float(((rows - rows.mean(0)) * (z - z.mean()).view(-1, 1)).mean(0).abs().max())

    sites = deep_erasure.deep_sites(full)
    assert trace(full, sites[-1]) < 1e-6 < trace(half, sites[-1])  # the last site: no linear trace left
    assert trace(full, sites[0]) == pytest.approx(trace(half, sites[0]))  # below it: the same half-way erasure

    def penultimate_probe(model):
        return audit.probe(audit.stage_feature_sets(model, digits, "cpu")["penultimate"], [3]).forget_val

    original = penultimate_probe(digits_cnn.model)
    assert penultimate_probe(full) < penultimate_probe(half) and penultimate_probe(full) < original - 0.1


def test_the_classifier_edit_is_calibrated_where_the_class_still_shows(digits, digits_cnn):
    """Calibrated on the fully erased model the edit sees held-out images already misread and stops weak (the zoo
    CNN's digit 3 then relearnt in 9 steps, against 27); the mode calibrates it half-way and moves it, so its
    strength is larger than the one the fully erased model alone would get (here 7.5 against 3.2)."""
    from unlearning.methods import classifier_edit, erasure

    x, y = digits.val.tensors()
    res = deep_erasure.forget_on(CPU, digits_cnn.model, digits_cnn.codes, [3], x, y, [])
    assert res.calibration["last_strength"] == deep_erasure.LAST_STRENGTH
    fit, check = erasure.halves(y)
    full, _, _ = deep_erasure.deep_erase(digits_cnn.model, x[fit], y[fit], [3], CPU, strength=deep_erasure.STRENGTH,
                                         last=deep_erasure.LAST_STRENGTH)
    direct = classifier_edit.forget_on(CPU, full, digits_cnn.codes, [3], "deep-erase", x[check], y[check], [],
                                       safety=erasure.ERASE_SAFETY, floor=classifier_edit.VAL_SAFETY,
                                       rank=erasure.ERASE_RANK)
    assert res.calibration["val_forget_before"] > direct.calibration["val_forget_before"]
    assert res.strength > direct.strength
    # and the model returned is the fully erased one with that edit: its hidden layer is the full erasure's
    hidden = deep_erasure.deep_sites(full)[-1][0].linear
    assert torch.allclose(res.model.state_dict()[hidden + ".weight"], full.state_dict()[hidden + ".weight"], atol=1e-6)


def _pooled_preactivation(model, x) -> np.ndarray:
    box = []
    h = dict(model.named_modules())[deep_erasure.deep_sites(model)[0][0].norm].register_forward_hook(
        lambda m, a, o: box.append(o.mean((2, 3))))
    with torch.no_grad():
        model(x)
    h.remove()
    return box[0].numpy()


def test_the_first_stage_loses_most_of_the_class_mean(digits, digits_cnn):
    """The first conv block's pooled pre-activation loses part of its class-mean gap (0.162 -> 0.116 here), not
    all of it: the eraser is exact on the positions it sampled (the test above), and only 16 of each image's 64
    positions are sampled. A probe there still reads the digit (balanced accuracy 0.81 -> 0.82 on these images):
    the eraser removes a mean difference, not every difference. Both are limits the report states."""
    x, y = digits.val.tensors()
    out, _, _ = deep_erasure.deep_erase(digits_cnn.model, x, y, [3], CPU, strength=1.0)
    is_f = y == 3

    def gap(model):
        a = torch.from_numpy(_pooled_preactivation(model, x))
        return float((a[is_f].mean(0) - a[~is_f].mean(0)).norm())

    assert gap(out) < 0.75 * gap(digits_cnn.model)


def _stream_gaps(model, site, x, y, c) -> list[float]:
    """Each read block's forgotten-minus-rest mean-token difference (its norm)."""
    means, _ = deep_erasure.stream_samples(model, site, x, CPU)
    return [float((v[y == c].mean(0) - v[y != c].mean(0)).norm()) for v in means]


def test_the_vit_stream_is_erased_at_every_depth_exactly_as_if_projected_after_each_write(digits):
    """Known answer: the folded weights compute what the original computes when the residual stream is projected
    (M) after the embedding and after every block's attention and MLP write; and with M fitted there, no read
    depth keeps a difference between the forgotten digit's mean token and the rest's."""
    torch.manual_seed(0)
    model = build_model("vit", tuple(digits.info.input_shape), 10).eval()
    x, y = digits.val.tensors()
    site = deep_erasure.deep_sites(model)[0]

    before = state_hash(model)
    out, deltas, ranks = deep_erasure.deep_erase(model, x, y, [2], CPU, strength=1.0)
    assert state_hash(model) == before and ranks == [len(site.reads)]
    assert {k.rsplit(".", 1)[0] for k in deltas} == {site.embedding.conv, site.embedding.position.rsplit(".", 1)[0],
                                                     *site.writers} - {""}
    means, sigma = deep_erasure.stream_samples(model, site, x, CPU)
    m = deep_erasure.stream_eraser(means, sigma, (y == 2).double()[:, None]).float()
    assert torch.allclose(m @ m, m, atol=1e-4)  # a projection: applying it after every write is what folding it does
    # every token at every depth lies in M's range: nothing is left along the removed directions, in any image
    modules = dict(out.named_modules())
    box = []
    hooks = [modules[n].register_forward_hook(lambda mod, a, o: box.append(o)) for n in site.reads]
    with torch.no_grad():
        out(x)
    for h in hooks:
        h.remove()
    for tokens in box:
        assert float((tokens - tokens @ m.T).abs().max()) < 1e-4 * float(tokens.abs().max())
    # the removed directions were each depth's forgotten-minus-rest mean token, so those differences shrink
    # (not to zero: the layers above the first read see a changed stream and make new ones, which the benchmark
    # measures with probes on the trained ViT)
    assert all(a < 0.6 * b for a, b in zip(_stream_gaps(out, site, x, y, 2), _stream_gaps(model, site, x, y, 2)))

    modules = dict(model.named_modules())
    project = (lambda mod, a, o: o @ m.T)
    hooks = [modules[w].register_forward_hook(project) for w in site.writers]
    hooks.append(modules[site.reads[0]].register_forward_pre_hook(lambda mod, a: (a[0] @ m.T,)))
    try:
        with torch.no_grad():
            expected = model(x)
    finally:
        for h in hooks:
            h.remove()
    with torch.no_grad():
        assert torch.allclose(out(x), expected, atol=1e-4)


def test_statistics_read_a_bounded_sample_of_positions():
    model = build_model("cnn", (1, 28, 28), 10).eval()
    x = torch.rand(12, 1, 28, 28)
    rows, owner = deep_erasure.site_samples(model, deep_erasure.deep_sites(model)[0], x, CPU)
    assert rows.shape[0] == 12 * deep_erasure.POSITIONS_PER_IMAGE and torch.equal(owner.unique(), torch.arange(12))


def test_mode_reads_a_bounded_validation_sample_and_forgets(digits, digits_cnn):
    seen = []
    handle = digits_cnn.model.register_forward_pre_hook(lambda m, a: seen.append(len(a[0])))
    try:  # the input model is deep-copied: its hooks are copied too, so every forward pass is counted
        res = forget(digits_cnn.model, digits_cnn.codes, [3], mode="deep-erase", calibration=digits.val, device="cpu")
    finally:
        handle.remove()
    per_pass = VALIDATION_PER_CLASS * 10
    assert sum(seen) <= per_pass * (len(deep_erasure.deep_sites(digits_cnn.model)) + 4)
    assert res.mode == "deep-erase" and res.seconds["erase"] > 0
    assert res.calibration["last_strength"] in (deep_erasure.STRENGTH, *deep_erasure.LAST_STRENGTHS)
    x, y = digits.test.tensors()
    with torch.no_grad():
        pred = res.model(x).argmax(1)
    assert (pred[y == 3] == 3).float().mean() < 0.1
    assert (pred[y != 3] == y[y != 3]).float().mean() > 0.8


def test_an_architecture_without_a_layout_does_erase_instead_and_says_so(digits):
    torch.manual_seed(0)
    model = build_model("tv:mobilenet_v3_small", tuple(digits.info.input_shape), 10).eval()
    codes = torch.rand(10, *digits.info.input_shape)
    res = forget(model, codes, [3], mode="deep-erase", calibration=digits.val, device="cpu")
    assert any("not erased at every stage" in n and "did mode 'erase' instead" in n for n in res.notes)
    assert "erased_sites" not in res.calibration  # nothing was erased stage by stage
