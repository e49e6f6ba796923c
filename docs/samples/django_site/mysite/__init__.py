"""The Django project of the web guide's sample."""
