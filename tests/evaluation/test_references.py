"""Retrained references: trained once with the parent's recipe, found again by the parent's weights."""
import copy

import torch

from unlearning.evaluation import references as R
from unlearning.storage.checkpoints import Checkpoint


def test_a_reference_is_trained_once_then_found_for_that_exact_model_only(digits, digits_mlp, tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARNING_CACHE", str(tmp_path))
    assert R.find_reference(digits_mlp, [3]) is None
    made = R.retrained_reference(digits_mlp, digits, [3], device="cpu")
    assert made.source == "trained" and made.path.is_file() and made.path.parent.name == R.parent_key(digits_mlp)
    assert made.checkpoint.meta["forgotten"]["forget_classes"] == [3]
    found = R.find_reference(digits_mlp, [3])
    assert found is not None and found.source == "cache"
    for a, b in zip(found.checkpoint.model.state_dict().values(), made.checkpoint.model.state_dict().values()):
        assert torch.equal(a, b)
    assert R.find_reference(digits_mlp, [4]) is None  # another class set
    other = copy.deepcopy(digits_mlp.model)
    with torch.no_grad():
        next(other.parameters()).add_(1e-3)
    assert R.find_reference(Checkpoint(other, digits_mlp.codes, digits_mlp.meta), [3]) is None  # another model


def test_a_broken_cache_entry_is_not_trusted(digits_mlp, tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARNING_CACHE", str(tmp_path))
    path = tmp_path / R.parent_key(digits_mlp) / R.file_name([5])
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    assert R.find_reference(digits_mlp, [5]) is None
