"""A membership-inference attack on output entropy, as the SSD and Bad-Teacher papers run it.

The attacker fits a logistic regression on one feature, the entropy of the model's softmax
output, to tell *members* (training samples of the remaining classes) from *non-members* (the
test split), with balanced class weights. It is then asked about the forgotten classes' training
samples: the fraction it still calls "member" is the MIA score. A model that truly forgot them
should look like a model that never saw them, so the figure to compare with is the retrained
model's, not zero.

The attack is only as good as the gap between members and non-members: ``attack_accuracy`` (its
balanced accuracy on its own training data) near 0.5 means the model's entropy does not reveal
membership at all (a model that does not overfit), and then the score is noise around an
arbitrary threshold; read it next to that accuracy.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data import ImageTensors
from .metrics import predict


def entropy(logits: torch.Tensor) -> np.ndarray:
    """Shannon entropy (nats) of softmax(logits), one value per row."""
    logp = torch.log_softmax(logits.double(), dim=1)
    return (-(logp.exp() * logp).sum(1)).numpy()


@dataclass(frozen=True)
class MIAResult:
    """Attack outcome; ``member_fraction`` is the headline number (the MIA score)."""

    member_fraction: float  # share of forget samples called "member"
    attack_accuracy: float  # balanced accuracy of the attack on its own training data (members vs test)
    n_forget: int
    n_members: int
    n_nonmembers: int


def attack(member_entropy: np.ndarray, nonmember_entropy: np.ndarray, target_entropy: np.ndarray,
           seed: int = 0) -> MIAResult:
    """Fit the entropy attack on members vs non-members and apply it to the target samples."""
    from sklearn.linear_model import LogisticRegression

    member_entropy, nonmember_entropy, target_entropy = (
        np.asarray(a, dtype=np.float64).reshape(-1, 1) for a in (member_entropy, nonmember_entropy, target_entropy))
    if len(member_entropy) == 0 or len(nonmember_entropy) == 0:
        raise ValueError("the attack needs at least one member and one non-member sample")
    x = np.concatenate([member_entropy, nonmember_entropy])
    y = np.concatenate([np.ones(len(member_entropy)), np.zeros(len(nonmember_entropy))])
    clf = LogisticRegression(class_weight="balanced", random_state=seed)
    clf.fit(x, y)
    pred_train = clf.predict(x)
    balanced = 0.5 * (float((pred_train[y == 1] == 1).mean()) + float((pred_train[y == 0] == 0).mean()))
    frac = float(clf.predict(target_entropy).mean()) if len(target_entropy) else float("nan")
    return MIAResult(frac, balanced, len(target_entropy), len(member_entropy), len(nonmember_entropy))


def membership_attack(model: nn.Module, train_set: ImageTensors, test_set: ImageTensors,
                      forget_classes: Sequence[int], device: str | torch.device | None = None,
                      seed: int = 0) -> MIAResult:
    """MIA score of ``model`` for ``forget_classes``: members are the remaining classes' training
    samples, non-members the whole test split (as in the SSD reference code), targets the forget
    classes' training samples."""
    forget = torch.as_tensor(list(forget_classes), dtype=torch.long)
    train_logits, train_labels = predict(model, train_set, device)
    test_logits, _ = predict(model, test_set, device)
    is_forget = torch.isin(train_labels, forget)
    h_train = entropy(train_logits)
    mask = is_forget.numpy()
    return attack(h_train[~mask], entropy(test_logits), h_train[mask], seed=seed)
