"""The evaluation: every measurement of a forgetting, on real held-out data, read against retraining.

- ``metrics``: batched accuracy per class, A_F, A_R, E_F, the confusion matrix and the outputs' thresholds;
- ``privacy``: the entropy membership-inference attack;
- ``audit``: probes at every depth, relearning, the SVC attack, CKA, and the one depth verdict
  (``depth_check``) with its thresholds;
- ``references``: the retrained models every figure is read against, found on disk or trained once;
- ``run_audit``: one run's audit, the original, unlearned and retrained models side by side (what the
  app's audit page, the report, Compare and the benchmarks show).

Kept empty on purpose: importing one of these modules loads only what it needs.
"""
