"""Included at the site root before ``api/`` (whose catch-all would answer 404)."""

from django.urls import path

from migrations_app.api.routing import api_view
from migrations_app.live import views

urlpatterns = [
    # GET only: a HEAD would have to open the stream to answer like GET.
    path(
        "api/migrations/<str:run_id>/stream",
        api_view(views.stream, methods=["GET"]),
        name="api-migration-stream",
    ),
    path(
        "api/migrations/<str:run_id>/stream-token",
        api_view(views.StreamTokenView.as_view()),
        name="api-migration-stream-token",
    ),
]
