"""Fine-tuning on the user's own labels: labels.csv, span frames, the recipe, the loop, eval.

`labels`, `labels_csv`, `feedback`, `settings` and `data` need no torch (so `--check`, `--help`
and the TUI's marks are fast); `recipe`, `loop`, `frozen`, `results`, `target`, `encode`, `evaluate` and `checkpoint` do.
"""
