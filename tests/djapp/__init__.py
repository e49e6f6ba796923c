"""A small Django project for the tests of ``conveyor.contrib.django`` (settings, tasks)."""
