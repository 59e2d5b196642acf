"""The unlearning card: one printable page for someone who will read nothing else about a run.

In the spirit of model cards (Mitchell et al., 2019): what was asked and when, which model (name and
weights hash) and method, the verdict in one sentence (not forgotten, hidden or gone, and how deep),
the time against retraining, the cost to the other classes, and the caveats. It is its own download
and the first page of the HTML report; its print CSS keeps it to one A4 or Letter page.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timezone

from unlearning.methods import registry as methods

from . import audit_text, formatting, method_text, run_view

# Fits one A4 (210 x 297 mm) and one Letter (216 x 279 mm) page: the narrower width and the shorter
# height of the two, 12 mm margins, 10.5 pt type. Checked with Chromium's page.pdf() in the browser test.
CSS = """
.ucard { font-family: "Source Sans Pro", Helvetica, Arial, sans-serif; color: #1c1e21; max-width: 46rem;
  margin: 1.5rem auto; padding: 1.2rem 1.5rem; border: 2px solid #1c1e21; border-radius: .4rem; line-height: 1.4; }
.ucard h1 { font-size: 1.5rem; margin: 0 0 .2rem; } .ucard .kind { text-transform: uppercase; letter-spacing: .08em;
  font-size: .8rem; color: #555; margin: 0; }
.ucard .verdict { font-size: 1.15rem; font-weight: 600; padding: .6rem .9rem; border-radius: .3rem; margin: .8rem 0; }
.ucard .ok { background: #e6f4ee; border-left: 6px solid #009E73; }
.ucard .warn { background: #fdf1e6; border-left: 6px solid #E69F00; }
.ucard .bad { background: #fbe9e1; border-left: 6px solid #D55E00; }
.ucard table { border-collapse: collapse; width: 100%; margin: .4rem 0; }
.ucard td { border-bottom: 1px solid #ddd; padding: .25rem .4rem; vertical-align: top; text-align: left; }
.ucard td:first-child { width: 11rem; color: #444; font-weight: 600; }
.ucard code { font-size: .85em; word-break: break-all; }
.ucard h2 { font-size: 1.05rem; margin: .9rem 0 .2rem; } .ucard ul { margin: .2rem 0; padding-left: 1.2rem; }
.ucard .foot { color: #555; font-size: .85rem; margin-top: .6rem; }
@media print {
  @page { margin: 12mm; }
  .ucard { font-size: 10.5pt; margin: 0 auto; border-width: 1.5px; break-inside: avoid; page-break-inside: avoid;
    -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .ucard-page { break-after: page; page-break-after: always; }
}
"""


@dataclass(frozen=True)
class CardFacts:
    """What the card needs beyond the run's view: facts the page gathers (the hash, the reference)."""

    asked_at: datetime  # when the run was asked for, timezone-aware (shown in UTC)
    weights_sha256: str  # of the model the run forgot from
    retrain_seconds: float | None = None  # the retrained reference's recorded training time
    retrain_measured: bool = False  # True: retrained in this app just now; False: recorded when it was made


def verdict_sentence(view: run_view.RunView) -> str:
    """The run's verdict in one sentence, depth included: not forgotten, hidden or gone, and how deep."""
    o = view.outcome
    overall = o.overall_verdict()
    d = o.depth
    if d is not None and overall["level"] == d.verdict.level:
        return d.verdict.message
    return overall["message"]


def time_sentence(view: run_view.RunView, facts: CardFacts) -> str:
    """The run's time against retraining's, and where retraining's comes from."""
    took = formatting.seconds_text(view.outcome.result.seconds["total"])
    device = view.outcome.result.device
    if facts.retrain_seconds is None:
        return (f"{took} on {device}. No model retrained without these classes is at hand, so there is no "
                f"retraining time to compare with (the app's \"Is it gone?\" page can train one).")
    how = ("measured in this app" if facts.retrain_measured else
           "the training time recorded when the shipped retrained reference was made, on another machine and load")
    ratio = facts.retrain_seconds / max(view.outcome.result.seconds["total"], 1e-9)
    return (f"{took} on {device}, against {formatting.seconds_text(facts.retrain_seconds)} to retrain without these "
            f"classes ({how}): about {ratio:,.0f} times faster.")


def cost_sentence(view: run_view.RunView) -> str:
    """What forgetting cost the classes that should be kept: their accuracy, and the worst-hit one."""
    o, f = view.outcome, view.forget
    before, after = o.before.retain_accuracy(f, o.previously_forgotten), o.after.retain_accuracy(f, o.previously_forgotten)
    kept = [c for c in range(len(view.class_names)) if c not in f and c not in o.previously_forgotten]
    text = f"The other classes' test accuracy went from {before:.1%} to {after:.1%}"
    if kept:
        drops = {c: o.before.per_class_accuracy[c] - o.after.per_class_accuracy[c] for c in kept}
        worst = max(drops, key=drops.get)
        if drops[worst] > 0.0005:
            text += f"; the most affected, {view.class_names[worst]}, lost {100 * drops[worst]:.1f} points"
    return text + "."


def caveats(view: run_view.RunView, facts: CardFacts) -> list[str]:
    """What the verdict does not say."""
    o = view.outcome
    out = [f"Measured on {int(o.before.confusion.sum()):,} held-out test images of one dataset "
           f"({view.meta.get('dataset')}); other data may behave differently.",
           "No guarantee of deletion: the depth check compares what a simple probe can recover from the model's "
           "features with a model retrained without the classes. A stronger attacker may recover more."]
    if o.depth is None:
        out.append("The depth check did not run: the outputs may forget a class that is still in the features.")
    elif o.depth.probe_retrained is None:
        out.append("No retrained reference was at hand, so how deep the forgetting went is judged without one.")
    if not methods.is_published(o.result.mode):
        out.append(f"The method ({o.result.mode}) is this app's, built on the paper's mnemonic codes; it is not "
                   f"the rule the paper evaluated.")
    out.append("Forgetting a class removes what the model knows about the class, not any one person's data in it.")
    return out


def card_html(view: run_view.RunView, facts: CardFacts) -> str:
    """The card as an HTML fragment (``<style>`` included): the report's first page."""
    esc = html.escape
    o, r, meta = view.outcome, view.outcome.result, view.meta
    names = ", ".join(view.forget_names)
    asked = facts.asked_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = [
        ("Asked", f"Forget class{'es' if len(view.forget) > 1 else ''} {names} (of {len(view.class_names)}), "
                  f"on {asked}"),
        ("Model", f"{view.model_name} · {meta.get('arch')} on {meta.get('dataset')}"),
        ("Weights SHA-256", f"<code>{esc(facts.weights_sha256)}</code>"),
        ("Method", f"{method_text.method_credit(r.mode)[:1].upper()}{method_text.method_credit(r.mode)[1:]}. "
                   f"{method_text.plain_mode(r.mode)}"),
        ("Time", time_sentence(view, facts)),
        ("Cost to the rest", cost_sentence(view)),
    ]
    cells = "".join(f"<tr><td>{esc(k)}</td><td>{v if k == 'Weights SHA-256' else esc(v)}</td></tr>" for k, v in rows)
    tone = audit_text.verdict_tone(o)
    items = "".join(f"<li>{esc(c)}</li>" for c in caveats(view, facts))
    return f"""<style>{CSS}</style>
<section class="ucard ucard-page" aria-label="Unlearning card">
<p class="kind">Unlearning card</p>
<h1>Forgetting {esc(names)} from {esc(view.model_name)}</h1>
<div class="verdict {tone}">{esc(verdict_sentence(view))}</div>
<table>{cells}</table>
<h2>Caveats</h2><ul>{items}</ul>
<p class="foot">Made with Mnemonic Unlearning Studio. “Forgotten” means a linear probe recovers the classes from
the features no better than from a model retrained without them; “hidden” means the outputs no longer name the
classes but the features still hold them.</p>
</section>"""


def card_document(view: run_view.RunView, facts: CardFacts) -> str:
    """The card on its own, as a complete HTML page (its own download)."""
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
            f"content=\"width=device-width, initial-scale=1\"><title>Unlearning card: {html.escape(view.model_name)}"
            f"</title></head><body>{card_html(view, facts)}</body></html>\n")
