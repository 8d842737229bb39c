"""Training: task specs, baselines, candidates, splits, search (Optuna), imbalance, trainer."""
