"""ui/samples: which codes and test images a gallery shows."""
from __future__ import annotations

import numpy as np

from ui import samples


def test_pick_samples_and_gallery_classes():
    labels = np.array([2, 0, 1, 2, 0, 1, 2, 3])
    idx = samples.pick_samples(labels, [2], per_forgotten=2, kept_classes=2)
    assert idx.tolist() == [0, 3, 1, 2]
    assert samples.gallery_classes(5, [3]) == [0, 1, 2, 3, 4]
    big = samples.gallery_classes(100, [50, 7], limit=4)
    assert big == [7, 50, 0, 1]
