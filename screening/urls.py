"""Screening web pages (API under screening.api)."""

from django.urls import path

from screening import views

app_name = "screening"

urlpatterns = [
    path("studies/", views.history, name="history"),
]
