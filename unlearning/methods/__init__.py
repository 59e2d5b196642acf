"""The methods: every way to forget a class, one-shot or baseline, and the Fisher information they read.

- ``registry``: one ``Method`` per method (name, label, what data it reads, whether it takes λ, how it runs);
  the CLI, the app, Compare and the benchmarks all read it;
- ``forgetting``: ``forget()``, the front door of the one-shot modes;
- ``paper_rule`` (``paper``), ``classifier_edit`` (``classifier``, ``calibrated``), ``erasure`` (``erase``),
  ``deep_erasure`` (``deep-erase``): the one-shot modes;
- ``baselines``: retraining, fine-tuning, SSD and the other methods they are compared with;
- ``fisher`` and ``sqgrad``: the diagonal Fisher information on the mnemonic codes, and the per-sample
  squared gradients it is summed from.

Kept empty on purpose: importing one of these modules loads only what it needs.
"""
