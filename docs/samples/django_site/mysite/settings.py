"""The least settings a Django project needs for the views of the web guide."""

SECRET_KEY = "change me: only for this sample"
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
ROOT_URLCONF = "mysite.urls"
INSTALLED_APPS = ["shop"]
DATABASES: dict[str, dict[str, str]] = {}  # conveyor needs none; a real project has one
