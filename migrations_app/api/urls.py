"""/api/ routes. Ids are matched as strings so a malformed id answers 404 in the
API's shape (like a missing one), and anything unknown under /api/ is NOT_FOUND."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView

from migrations_app.api import auth, docs, errors, views

urlpatterns = [
    path("auth/token", auth.TokenObtainView.as_view(), name="api-token"),
    path("auth/token/refresh", auth.TokenRefreshView_.as_view(), name="api-token-refresh"),
    path("projects", views.ProjectListView.as_view(), name="api-projects"),
    path("projects/<str:project_id>", views.ProjectDetailView.as_view(), name="api-project"),
    path("migrations", views.MigrationListView.as_view(), name="api-migrations"),
    path(
        "migrations/project/<str:project_id>/start",
        views.MigrationStartView.as_view(),
        name="api-migration-start",
    ),
    path(
        "migrations/<str:run_id>/status",
        views.MigrationStatusView.as_view(),
        name="api-migration-status",
    ),
    path(
        "migrations/<str:run_id>/pause",
        views.MigrationPauseView.as_view(),
        name="api-migration-pause",
    ),
    path(
        "migrations/<str:run_id>/resume",
        views.MigrationResumeView.as_view(),
        name="api-migration-resume",
    ),
    path(
        "migrations/<str:run_id>/cancel",
        views.MigrationCancelView.as_view(),
        name="api-migration-cancel",
    ),
    path(
        "migrations/<str:run_id>/items",
        views.MigrationItemsView.as_view(),
        name="api-migration-items",
    ),
    path(
        "migrations/<str:run_id>/crosswalk.csv",
        views.MigrationCrosswalkView.as_view(),
        name="api-migration-crosswalk",
    ),
    path(
        "migrations/<str:run_id>/report",
        views.MigrationReportView.as_view(),
        name="api-migration-report",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", docs.api_docs, name="api-docs"),
    re_path(r"^.*$", errors.api_not_found),
]
