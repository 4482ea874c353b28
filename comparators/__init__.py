"""Pure rules for deciding whether two values mean the same across engines."""
