"""The forgetting methods as the pages offer and describe them: which ones, the default, and each in words.

Everything is read from the backend's method registry (``unlearning.methods.registry``), so the pages never keep
a list of their own. No Streamlit.
"""
from __future__ import annotations

import math
from typing import Any

from unlearning.methods import registry as methods


def available_modes() -> dict[str, str]:
    """Forgetting methods by name -> description, as the backend registers them."""
    return {name: methods.REGISTRY[name].description for name in methods.names(one_shot=True)}


def default_mode() -> str:
    """The method offered first: the backend's default."""
    return methods.DEFAULT_MODE


def plain_mode(mode: str | None) -> str:
    """A method in plain words (the paper's rule when ``mode`` is None); the registry's description is the
    precise one, shown behind a "for the curious" fold. The paper is credited where its rule ran only."""
    method = methods.REGISTRY.get(mode or "paper")
    return (method.plain or method.description) if method else (mode or "")


def method_credit(mode: str | None) -> str:
    """Who a run's method is: the paper's rule is credited to the paper, the app's own modes are not."""
    if methods.is_published(mode):
        return "the paper's one-shot rule with mnemonic codes (Yamashita et al., ACML 2024)"
    return f"the app's “{mode}” method (one shot, built on the paper's mnemonic codes; not the paper's own rule)"


def settings_line(result: Any) -> list[str]:
    """How a run was made, in short phrases: method, strengths, direction, layer, device."""
    parts = [f"method {result.mode}"]
    if math.isfinite(result.lambda1) and methods.takes_lambdas(result.mode):
        parts.append(f"λ1 = {result.lambda1:g}, λ2 = {result.lambda2:g}")
    strength = getattr(result, "strength", float("nan"))
    if isinstance(strength, float) and math.isfinite(strength):
        parts.append(f"strength {strength:.3g}")
    if getattr(result, "layer", ""):
        parts.append(f"layer {result.layer.removeprefix('net.')}")  # as the charts name it (figures.layer_label)
    if result.sign:
        parts.append(f"direction {'θ + δ' if result.sign == '+' else 'θ − δ'}")
    parts.append(result.device)
    return parts


def settings_explained(result: Any) -> list[str]:
    """Each phrase of ``settings_line`` in plain words (markdown bullets), for the fold below it."""
    out = []
    strength = getattr(result, "strength", float("nan"))
    if isinstance(strength, float) and math.isfinite(strength):
        out.append(f"**strength {strength:.3g}**: the size of the edit, the largest change it made to any one weight "
                   f"of the edited layer. The method chose it as a few times the smallest push that makes the "
                   f"model stop recognising the forgotten classes.")
    if getattr(result, "layer", ""):
        out.append(f"**layer {result.layer.removeprefix('net.')}**: the part of the network that was edited (`fc` is "
                   f"the last layer, which turns features into class scores).")
    if result.sign:
        out.append(f"**direction {'θ + δ' if result.sign == '+' else 'θ − δ'}**: the edit can be added to the weights "
                   f"(θ) or taken away; both were tried on the codes and this one forgot them while keeping the rest.")
    if methods.takes_lambdas(result.mode) and math.isfinite(result.lambda1):
        out.append("**λ1, λ2**: the paper's two limits on how far weights may move (see the fold beside their boxes).")
    if result.mode == "erase":
        out.append("**erase** wipes from the last hidden layer whatever a straight-line rule could use to tell the "
                   "forgotten classes apart from the rest, with the smallest change that does it. That step is "
                   "*LEACE* (LEAst-squares Concept Erasure, Belrose et al. 2023).")
    return out
