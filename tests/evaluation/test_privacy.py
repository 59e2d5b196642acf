"""The entropy membership-inference attack, on cases whose answer is known in advance."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from unlearning.data import ImageTensors
from unlearning.evaluation.privacy import attack, entropy, membership_attack


def test_entropy_of_uniform_and_confident_outputs():
    h = entropy(torch.tensor([[0.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0]]))
    assert h[0] == pytest.approx(math.log(4))
    assert h[1] == pytest.approx(0.0, abs=1e-30)


def test_separable_entropies_are_told_apart():
    rng = np.random.default_rng(0)
    members = rng.uniform(0.0, 0.1, 200)  # confident on what it was trained on
    nonmembers = rng.uniform(1.0, 2.0, 300)  # unsure on what it never saw
    remembered = attack(members, nonmembers, rng.uniform(0.0, 0.1, 50))
    assert remembered.member_fraction == 1.0 and remembered.attack_accuracy == 1.0
    forgotten = attack(members, nonmembers, rng.uniform(1.0, 2.0, 50))
    assert forgotten.member_fraction == 0.0
    assert (forgotten.n_members, forgotten.n_nonmembers, forgotten.n_forget) == (200, 300, 50)


def test_indistinguishable_entropies_give_a_chance_level_attack():
    rng = np.random.default_rng(1)
    res = attack(rng.uniform(0, 1, 2000), rng.uniform(0, 1, 2000), rng.uniform(0, 1, 500))
    assert 0.4 < res.attack_accuracy < 0.6


def test_an_attack_needs_both_kinds_of_sample():
    with pytest.raises(ValueError, match="member"):
        attack(np.array([]), np.array([1.0]), np.array([0.5]))


class Oracle(nn.Module):
    """Confident (low entropy) on images whose first pixel is bright, uniform on the others."""

    def forward(self, x):
        bright = (x.flatten(1)[:, 0] > 0.5).float()
        return 20.0 * bright[:, None] * torch.eye(3)[0] + torch.zeros(len(x), 3)


def _images(first_pixel: list[int]) -> torch.Tensor:
    imgs = torch.zeros(len(first_pixel), 1, 2, 2, dtype=torch.uint8)
    imgs[:, 0, 0, 0] = torch.tensor(first_pixel, dtype=torch.uint8)
    return imgs


def test_membership_attack_wiring_members_nonmembers_and_targets():
    """Members: remaining classes' training samples; non-members: the test split; targets: forget-class
    training samples. Forget samples the model is confident on are called members, the others not."""
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 2, 2])
    # class 0's training samples: one bright (remembered), one dark (forgotten); classes 1 and 2 bright
    train = ImageTensors(_images([255, 0, 255, 255, 255, 255, 255, 255]), labels)
    test = ImageTensors(_images([0, 0, 0, 0, 0, 0]), torch.tensor([0, 1, 2, 0, 1, 2]))
    res = membership_attack(Oracle(), train, test, [0])
    assert res.n_forget == 2 and res.n_members == 6 and res.n_nonmembers == 6
    assert res.member_fraction == 0.5
    assert res.attack_accuracy == 1.0
