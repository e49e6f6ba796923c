"""How a job is described, shared by the client that enqueues and the runtime that runs.

``options.py`` checks enqueue options and builds the stored record; ``handlers.py`` is
the registry of handler functions and their defaults; ``chains.py`` and
``dependencies.py`` are the headers that carry a chain's next steps and a job's
dependencies, and what they mean when the job's turn comes.
"""
