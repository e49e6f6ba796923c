"""The exceptions conveyor raises: one hierarchy under :class:`ConveyorError`.

Every message names the thing that is wrong and, where it helps, what to do about it.
"""

from __future__ import annotations


class ConveyorError(Exception):
    """Base class of every error conveyor raises on purpose."""


class ConfigurationError(ConveyorError, ValueError):
    """A queue or store was configured wrongly (bad URL, missing folder, bad option)."""


class BackendUnavailableError(ConveyorError):
    """The store could not be reached or opened (server down, file not writable)."""


class IncompatibleStoreError(ConveyorError):
    """The store holds something conveyor cannot use (not a conveyor database)."""


class SchemaVersionError(IncompatibleStoreError):
    """The store's schema was written by a newer conveyor than this one."""


class InvalidJobError(ConveyorError, ValueError):
    """An enqueue option is out of range or of the wrong type (delay, priority, ...)."""


class InvalidScheduleError(ConveyorError, ValueError):
    """A recurring schedule is wrong (bad cron expression, unknown time zone, interval)."""


class ScheduleNotFoundError(ConveyorError, LookupError):
    """No recurring schedule has the given name."""


class SerializationError(ConveyorError, TypeError):
    """A payload or result could not be serialised (or deserialised)."""


class UnknownJobError(ConveyorError, LookupError):
    """A job name has no registered handler."""


class HandlerRegistrationError(ConveyorError, ValueError):
    """A handler could not be registered (duplicate name, not callable, bad defaults)."""


class JobNotFoundError(ConveyorError, LookupError):
    """No job has the given id."""


class WaitTimeoutError(ConveyorError, TimeoutError):
    """``Queue.wait`` gave up before the job finished."""


class JobTimeoutError(ConveyorError, TimeoutError):
    """A job attempt ran longer than its ``timeout``; the attempt fails and may be retried."""


class JobCancelledError(ConveyorError):
    """Raised inside a plain handler that checks ``job.raise_if_cancelled()`` after a cancel."""


class RemoteHandlerError(ConveyorError):
    """A handler run with ``run_in="process"`` raised; carries the child's traceback."""

    def __init__(self, message: str, remote_traceback: str) -> None:
        super().__init__(message)
        self.remote_traceback = remote_traceback
