"""The app's queue, in memory on a test clock, for every test that asks for ``jobs``."""

from myapp import queue

from conveyor.testing import queue_fixture

jobs = queue_fixture(queue)
