"""The side-by-side benchmark: both paths and their limits, measured in one run."""
