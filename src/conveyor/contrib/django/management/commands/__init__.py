"""``manage.py conveyor``."""
