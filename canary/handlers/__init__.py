"""Handlers: pure functions that turn one source message into one row."""
