"""The click command line: parses arguments and calls the composition root."""
