"""The diffs: the stream join over the compare topic, and its drill-down into the tables."""
