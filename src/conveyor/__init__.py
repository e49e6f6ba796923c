"""conveyor: a Python background job queue.

Embedded SQLite by default; ``memory://`` for tests; one URL away from many machines.

>>> from conveyor import create_queue
>>> queue = create_queue(workers=4)
"""

from ._version import __version__
from .client.create import create_queue
from .client.queue import Queue, SyncQueue
from .errors import (
    BackendUnavailableError,
    ConfigurationError,
    ConveyorError,
    HandlerRegistrationError,
    IncompatibleStoreError,
    InvalidJobError,
    InvalidScheduleError,
    JobCancelledError,
    JobNotFoundError,
    JobTimeoutError,
    RemoteHandlerError,
    ScheduleNotFoundError,
    SchemaVersionError,
    SerializationError,
    UnknownJobError,
    WaitTimeoutError,
)
from .job import Job, JobConfig, JobPriority, JobStatus, QueueStats
from .retry import Exponential, Fixed
from .runtime.scheduler import ScheduleInfo
from .runtime.worker import WorkerInfo
from .serializers import JSONSerializer, Serializer

__all__ = [
    "BackendUnavailableError",
    "ConfigurationError",
    "ConveyorError",
    "Exponential",
    "Fixed",
    "HandlerRegistrationError",
    "IncompatibleStoreError",
    "InvalidJobError",
    "InvalidScheduleError",
    "JSONSerializer",
    "Job",
    "JobCancelledError",
    "JobConfig",
    "JobNotFoundError",
    "JobPriority",
    "JobStatus",
    "JobTimeoutError",
    "Queue",
    "QueueStats",
    "RemoteHandlerError",
    "ScheduleInfo",
    "ScheduleNotFoundError",
    "SchemaVersionError",
    "SerializationError",
    "Serializer",
    "SyncQueue",
    "UnknownJobError",
    "WaitTimeoutError",
    "WorkerInfo",
    "__version__",
    "create_queue",
]
