"""Scheduled diff jobs: job specs from ``[schedule]`` turned into APScheduler triggers.

``jobs`` builds and describes the triggers, ``execute`` runs one job through the diff
functions, ``runner`` drives them all on an APScheduler 3 scheduler. APScheduler is
imported here and nowhere else in canary.
"""
