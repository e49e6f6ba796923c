"""An example Django site whose tasks run on conveyor (see ``README.md`` beside it)."""
