"""The two consumer paths under comparison: legacy and ring."""
