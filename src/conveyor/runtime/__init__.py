"""What runs jobs: the worker's claim, run and settle loop, and the loops beside it.

``worker.py`` claims jobs and starts one task per job, which runs its attempt
(``attempt.py``): the start gates (``gates.py``), the handler with its time limit (in a
process of its own with ``process.py``, if asked) and the outcome, settled;
``outcomes.py`` holds a held job's state and the outcomes it can end with.
``scheduler.py`` with ``triggers.py`` fires recurring schedules once per tick across
processes; ``retention.py`` prunes finished jobs; ``aging.py`` raises long-waiting jobs'
priority; ``tasks.py`` ends tasks for sure.
"""
