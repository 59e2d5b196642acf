"""ui/method_text: the pages offer exactly the backend's methods, and its default first."""
from __future__ import annotations

from ui import method_text
from unlearning.methods import registry as methods


def test_the_pages_offer_the_backends_modes():
    from unlearning.methods import forgetting

    modes = method_text.available_modes()
    assert modes == forgetting.MODES and "paper" in modes and all(isinstance(v, str) for v in modes.values())
    assert method_text.default_mode() == forgetting.DEFAULT_MODE in modes
    assert {m for m in modes if methods.reads_validation(m)} == set(forgetting.NEEDS_VALIDATION)
