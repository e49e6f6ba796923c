"""What runs jobs: the worker's claim, run and settle loop, and the loops beside it.

``worker.py`` claims, runs one attempt (time limit, cancellation, a process of its own
with ``process.py``) and settles it; ``scheduler.py`` with ``triggers.py`` fires
recurring schedules once per tick across processes; ``retention.py`` prunes finished
jobs; ``aging.py`` raises long-waiting jobs' priority; ``tasks.py`` ends tasks for sure.
"""
