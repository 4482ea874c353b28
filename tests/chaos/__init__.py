"""Chaos drills: services stopped, brokers restarted and paths killed under a live run.

The drills run on a service set of their own (``isolated.ServiceSet``), so they can stop
and start its services while the rest of the suite uses the default set. The drill logic
lives in ``drill.py`` (with ``stage.py``, ``tally.py``, ``children.py`` and
``results.py``) and is shared with ``benchmarks/faults.py``.
"""
