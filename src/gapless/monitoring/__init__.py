"""Monitoring: is the data a model sees now still the data it was trained on?

``stattests`` holds the statistical tests, one module per test, registered by name (pure
functions on NumPy arrays); ``drift`` builds per-column and dataset drift reports on
them; ``windows`` cuts the prediction log into time buckets; ``drift_windows`` judges
drift per bucket from fixed-size summaries (``drift_sketch``), in bounded memory;
``performance`` measures each bucket against feedback labels (concept drift);
``alert_rules`` and ``alerts`` judge rules on those windows and act, and ``triggers``
holds the firings the retraining scheduler consumes.
"""
