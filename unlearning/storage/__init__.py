"""Storage, the bottom layer: how a file is written and read, and where models live.

- ``safe_io``: the one way this project writes a file (checked target, temporary file, atomic rename);
- ``strict_json``: JSON that every parser accepts;
- ``checkpoints``: safetensors checkpoints (weights, mnemonic codes, JSON metadata), never unpickled;
- ``folders``: where models live on disk (shipped ones, each owner's trained and uploaded ones).

Kept empty on purpose: importing one of these modules loads only what it needs.
"""
