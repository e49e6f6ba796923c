"""Integrations of conveyor with frameworks: :mod:`conveyor.contrib.django`."""
