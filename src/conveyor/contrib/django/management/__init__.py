"""Management commands of conveyor.contrib.django."""
