"""Renderers: a report (plain data) to text, JSON or HTML. No I/O."""
