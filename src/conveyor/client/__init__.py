"""What an application holds: the :class:`~conveyor.Queue` facade and its blocking twins.

``queue.py`` is the facade (enqueue, read, steer, start and stop the runtime), ``sync.py``
the blocking twins (``queue.sync``), and ``remote.py`` the bridge that turns other
processes' store events into this process's ``queue.on(...)`` callbacks.
"""
