"""Fine-tuning on the user's own labels: labels.csv, span frames, the training loop, eval.

`labels` and `data` need no torch (so `--check` is fast); `loop`, `encode`, `evaluate` and
`checkpoint` do.
"""
