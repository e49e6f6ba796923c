"""A report that a task computes in the background."""
