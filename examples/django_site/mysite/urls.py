"""The example site's pages."""

from django.urls import path
from shop import views

urlpatterns = [
    path("", views.index, name="index"),
    path("reports/", views.create_report, name="create-report"),
    path("reports/<int:pk>/", views.report, name="report"),
]
