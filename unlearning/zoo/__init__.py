"""The model zoo: the checkpoints shipped in assets/models, the recipes that made them, their cards and the
forgetting table measured on them.

    python -m unlearning zoo              # list the shipped models, their cards and table rows
    python -m unlearning zoo --rebuild    # retrain every model from scratch, then remake the table

Every shipped model is trained on the embedded ``mnist5k`` digits (or, for the full-size ones, on
Fashion-MNIST) by this project's own training code (``pipeline.train_new_model``), on the CPU with
``recipes.TRAIN_THREADS`` threads and fixed seeds, so a rebuild on the same machine and torch version gives
the same weights bit for bit. Each checkpoint carries a model card in its metadata (``meta["card"]``) and as
a readable file beside it (``<name>.md``). The card records a SHA-256 of the weights and codes, which the
tests check.

One module per idea:
- ``recipes``: how each shipped model is trained (``Recipe``, ``RECIPES``, ``FULL_SIZE_DEFAULT``);
- ``shipped``: the shipped checkpoints, listed and found by name, and the default one;
- ``cards``: a model card in Markdown;
- ``targets``: what the default mode must meet, the table's summaries, the default model they pick;
- ``table``: the forgetting table, measured, written and read;
- ``remake``: train the zoo again, then the table, the cards and ``DEFAULT``.

Kept empty on purpose: importing one of these modules loads only what it needs.
"""
