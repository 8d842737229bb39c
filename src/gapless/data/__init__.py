"""Data: sources, versioned snapshots with lineage, validation, cleaning, profiling, diff."""
