import math

import pytest
import torch

from conftest import DEVICES, state_hash
from unlearning.methods.fisher import code_fisher_loop
from unlearning.methods.forgetting import fisher_ratio, paper_perturbation
from unlearning.methods.forgetting import DEFAULT_MODE, MODES, NEEDS_VALIDATION
from unlearning.methods.forgetting import forget as _forget


def forget(*args, **kwargs):
    """These tests are about the published rule: the library's default mode is another one."""
    return _forget(*args, mode="paper", **kwargs)
from unlearning.evaluation.metrics import code_accuracies, evaluate


def _reference_deltas(model, codes, classes, lambda1, lambda2):
    """The published rule written out step by step, from the per-class loop (method.md, steps 1-4)."""
    f = code_fisher_loop(model, codes, classes, device="cpu")
    deltas = {}
    for n in f.forget:
        noise = torch.log(f.forget[n]) - torch.log(f.remain[n])
        noise[noise != noise] = 0
        noise[torch.isinf(noise)] = noise[~torch.isinf(noise)].max()
        noise = torch.exp(noise)
        deltas[n] = min(lambda1, lambda2 / float(noise.max())) * noise
    return deltas


@pytest.mark.parametrize("device", DEVICES)
def test_forget_applies_the_published_rule_exactly(digits_mlp, device):
    model, codes = digits_mlp.model, digits_mlp.codes
    res = forget(model, codes, [3], lambda1=1e-3, lambda2=10.0, device=device)
    deltas = _reference_deltas(model, codes, [3], 1e-3, 10.0)
    sign = 1.0 if res.sign == "+" else -1.0
    assert res.sign in "+-"
    forgotten = dict(res.model.named_parameters())
    for n, p in model.named_parameters():
        torch.testing.assert_close(forgotten[n].detach().cpu(), p.detach() + sign * deltas[n], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_the_kept_candidate_is_the_better_one_on_the_codes(digits_mlp, device):
    res = forget(digits_mlp.model, digits_mlp.codes, [0, 7], device=device)
    value = {s: (1 - f) + r for s, (f, r) in res.code_scores.items()}
    assert set(value) == {"+", "-"}
    assert value[res.sign] >= max(value.values())
    f, r = code_accuracies(res.model, digits_mlp.codes, [0, 7], device=device)
    assert (f, r) == pytest.approx(res.code_scores[res.sign])


@pytest.mark.parametrize("device", DEVICES)
def test_forget_never_changes_the_model_it_was_given(digits_mlp, device):
    before = state_hash(digits_mlp.model)
    res = forget(digits_mlp.model, digits_mlp.codes, [5], device=device)
    assert res.model is not digits_mlp.model
    assert state_hash(digits_mlp.model) == before
    assert state_hash(res.model) != before


@pytest.mark.parametrize("device", DEVICES)
def test_forgetting_a_digit_removes_it_from_real_test_images(digits, digits_mlp, device):
    """Digit 0 of the small MLP: measured on real held-out images, not on the codes."""
    before = evaluate(digits_mlp.model, digits.test, 10, device=device)
    res = forget(digits_mlp.model, digits_mlp.codes, [0], device=device)
    after = evaluate(res.model, digits.test, 10, device=device)
    assert before.forget_accuracy([0]) > 0.9
    assert after.forget_accuracy([0]) <= 0.05
    assert before.retain_accuracy([0]) - after.retain_accuracy([0]) <= 0.05


def test_result_explains_itself(digits_mlp):
    res = forget(digits_mlp.model, digits_mlp.codes, [1, 4])
    assert res.forget_classes == (1, 4) and res.mode == "paper" and res.device == "cpu"
    assert set(res.seconds) == {"fisher", "perturb", "total"}
    assert res.seconds["total"] == pytest.approx(res.seconds["fisher"] + res.seconds["perturb"])
    edges, counts, moved = res.ratio_histogram()
    assert len(edges) == len(counts) + 1 == len(moved) + 1
    assert sum(counts) == res.total_params == sum(p.numel() for p in digits_mlp.model.parameters())
    assert sum(moved) == res.moved_params and 0 < res.moved_params <= res.total_params
    assert all(m <= c for m, c in zip(moved, counts))
    for t in res.tensors:
        assert 0 < t.scale <= res.lambda1
        assert t.max_delta == pytest.approx(t.scale * t.max_ratio, rel=1e-5)


def test_ratio_handles_nan_and_infinity_like_the_reference():
    forget_f = torch.tensor([1.0, 0.0, float("inf"), 4.0])
    remain_f = torch.tensor([1.0, 0.0, 1.0, 1.0])
    r = fisher_ratio(forget_f, remain_f)
    # 0/0 -> log gives nan -> 0 -> exp(0) = 1 ; inf -> largest finite log ratio (log 4)
    torch.testing.assert_close(r, torch.tensor([1.0, 1.0, 4.0, 4.0]))
    delta, scale = paper_perturbation(torch.tensor([1.0, 1e6]), lambda1=1e-3, lambda2=10.0)
    assert scale == pytest.approx(1e-5)  # lambda2 / max r is the smaller cap
    assert float(delta.max()) == pytest.approx(10.0)


@pytest.mark.parametrize("bad", [0, -1e-3, float("nan"), float("inf"), 1e13, "abc"])
def test_bad_lambdas_are_refused(digits_mlp, bad):
    with pytest.raises(ValueError, match="lambda1"):
        forget(digits_mlp.model, digits_mlp.codes, [1], lambda1=bad)
    with pytest.raises(ValueError, match="lambda2"):
        forget(digits_mlp.model, digits_mlp.codes, [1], lambda2=bad)


@pytest.mark.parametrize("classes", [[], list(range(10)), [12]])
def test_empty_full_or_unknown_class_lists_are_refused(digits_mlp, classes):
    with pytest.raises(ValueError):
        forget(digits_mlp.model, digits_mlp.codes, classes)


def test_every_proper_subset_size_works(digits_mlp):
    for k in (1, 5, 9):
        res = forget(digits_mlp.model, digits_mlp.codes, list(range(k)))
        assert res.forget_classes == tuple(range(k))
        assert all(math.isfinite(float(p.detach().sum())) for p in res.model.parameters())


def test_out_of_memory_retries_with_smaller_chunks(digits_mlp, monkeypatch):
    import unlearning.methods.fisher as fisher

    real = fisher.accumulate_sq_grad_sums
    sizes = []

    def tight_memory(model, params, buffers, x, y, weights, out, strategy="auto"):
        sizes.append(len(x))
        if len(x) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(model, params, buffers, x, y, weights, out, strategy=strategy)

    expected = forget(digits_mlp.model, digits_mlp.codes, [4])
    monkeypatch.setattr(fisher, "accumulate_sq_grad_sums", tight_memory)
    res = forget(digits_mlp.model, digits_mlp.codes, [4], chunk_size=8)
    assert sizes[:3] == [8, 4, 2] and max(sizes[2:]) <= 2
    assert any("retrying with 4 codes" in n for n in res.notes)
    assert res.sign == expected.sign
    for (n, a), (_, b) in zip(res.model.named_parameters(), expected.model.named_parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_a_failing_accelerator_falls_back_to_the_cpu_with_a_notice(digits_mlp, monkeypatch):
    import unlearning.methods.forgetting as fg
    from unlearning.methods import paper_rule, registry as methods

    real = paper_rule.forget_on

    def broken_gpu(dev, *args):
        if dev.type == "cuda":
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return real(dev, *args)

    monkeypatch.setattr(methods, "pick_device", lambda device=None: torch.device("cuda"))
    monkeypatch.setattr(paper_rule, "forget_on", broken_gpu)
    res = fg.forget(digits_mlp.model, digits_mlp.codes, [4], device="cuda", mode="paper")
    assert res.device == "cpu"
    assert any("forgot on the CPU instead" in n for n in res.notes)


def test_other_errors_are_not_swallowed_by_the_fallback(digits_mlp, monkeypatch):
    import unlearning.methods.forgetting as fg
    from unlearning.methods import paper_rule, registry as methods

    def bug(dev, *args):
        raise RuntimeError("shape mismatch in a programming error")

    monkeypatch.setattr(methods, "pick_device", lambda device=None: torch.device("cuda"))
    monkeypatch.setattr(paper_rule, "forget_on", bug)
    with pytest.raises(RuntimeError, match="programming error"):
        fg.forget(digits_mlp.model, digits_mlp.codes, [4], mode="paper")


def test_the_library_refuses_string_lambdas_and_meta_codes(digits_mlp):
    from unlearning.methods.forgetting import forget

    with pytest.raises(ValueError, match="lambda1 must be a number"):
        forget(digits_mlp.model, digits_mlp.codes, [1], lambda1="0.001", mode="paper")
    with pytest.raises(ValueError, match="meta"):
        forget(digits_mlp.model, digits_mlp.codes.to("meta"), [1], mode="classifier")


def test_the_registry_names_every_mode_with_a_one_line_description():
    assert {"paper", "classifier", "calibrated"} <= set(MODES)
    assert DEFAULT_MODE in MODES
    assert NEEDS_VALIDATION <= set(MODES)
    for name, text in MODES.items():
        assert isinstance(text, str) and text and "\n" not in text, name
