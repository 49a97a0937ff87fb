"""Included at the site root before ``api/`` (whose catch-all would answer 404)."""

from django.urls import path

from migrations_app.live import views

urlpatterns = [
    path("api/migrations/<str:run_id>/stream", views.stream, name="api-migration-stream"),
    path(
        "api/migrations/<str:run_id>/stream-token",
        views.StreamTokenView.as_view(),
        name="api-migration-stream-token",
    ),
]
