"""/api/ routes. Ids are matched as strings so a malformed id answers 404 in the
API's shape (like a missing one), and anything unknown under /api/ is NOT_FOUND.
Every view is bound through ``api_view`` (see routing): CSRF-exempt, and a method
the URL does not serve is 405 in the error shape, for anonymous callers too."""

from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt

from migrations_app.api import (
    auth,
    connection_api,
    docs,
    errors,
    schedule_api,
    views,
    webhook_views,
)
from migrations_app.api.routing import api_view

urlpatterns = [
    path("auth/token", api_view(auth.TokenObtainView.as_view()), name="api-token"),
    path(
        "auth/token/refresh",
        api_view(auth.TokenRefreshView_.as_view()),
        name="api-token-refresh",
    ),
    path("projects", api_view(views.ProjectListView.as_view()), name="api-projects"),
    path(
        "projects/<str:project_id>",
        api_view(views.ProjectDetailView.as_view()),
        name="api-project",
    ),
    path(
        "projects/<str:project_id>/webhooks",
        api_view(webhook_views.ProjectWebhooksView.as_view()),
        name="api-project-webhooks",
    ),
    path(
        "projects/<str:project_id>/webhooks/<str:webhook_id>",
        api_view(webhook_views.WebhookDetailView.as_view()),
        name="api-project-webhook",
    ),
    path(
        "projects/<str:project_id>/webhooks/<str:webhook_id>/test",
        api_view(webhook_views.WebhookTestView.as_view()),
        name="api-project-webhook-test",
    ),
    path(
        "projects/<str:project_id>/webhooks/<str:webhook_id>/deliveries",
        api_view(webhook_views.WebhookDeliveriesView.as_view()),
        name="api-project-webhook-deliveries",
    ),
    path(
        "projects/<str:project_id>/connection",
        api_view(connection_api.ProjectConnectionView.as_view()),
        name="api-project-connection",
    ),
    path(
        "projects/<str:project_id>/schedule",
        api_view(schedule_api.ProjectScheduleView.as_view()),
        name="api-project-schedule",
    ),
    path(
        "projects/<str:project_id>/schedule/pause",
        api_view(schedule_api.ProjectSchedulePauseView.as_view()),
        name="api-project-schedule-pause",
    ),
    path(
        "projects/<str:project_id>/schedule/resume",
        api_view(schedule_api.ProjectScheduleResumeView.as_view()),
        name="api-project-schedule-resume",
    ),
    path("migrations", api_view(views.MigrationListView.as_view()), name="api-migrations"),
    path(
        "migrations/project/<str:project_id>/start",
        api_view(views.MigrationStartView.as_view()),
        name="api-migration-start",
    ),
    path(
        "migrations/<str:run_id>/status",
        api_view(views.MigrationStatusView.as_view()),
        name="api-migration-status",
    ),
    path(
        "migrations/<str:run_id>/pause",
        api_view(views.MigrationPauseView.as_view()),
        name="api-migration-pause",
    ),
    path(
        "migrations/<str:run_id>/resume",
        api_view(views.MigrationResumeView.as_view()),
        name="api-migration-resume",
    ),
    path(
        "migrations/<str:run_id>/cancel",
        api_view(views.MigrationCancelView.as_view()),
        name="api-migration-cancel",
    ),
    path(
        "migrations/<str:run_id>/rollback",
        api_view(views.MigrationRollbackView.as_view()),
        name="api-migration-rollback",
    ),
    path(
        "migrations/<str:run_id>/items",
        api_view(views.MigrationItemsView.as_view()),
        name="api-migration-items",
    ),
    path(
        "migrations/<str:run_id>/crosswalk.csv",
        api_view(views.MigrationCrosswalkView.as_view()),
        name="api-migration-crosswalk",
    ),
    path(
        "migrations/<str:run_id>/report",
        api_view(views.MigrationReportView.as_view()),
        name="api-migration-report",
    ),
    path("schema/", api_view(docs.SchemaView.as_view()), name="api-schema"),
    path("docs/", api_view(docs.api_docs, methods=["GET", "HEAD"]), name="api-docs"),
    # Last: every other path and method under /api/ (no CSRF check: it serves nothing).
    re_path(r"^.*$", csrf_exempt(errors.api_not_found), name=errors.NOT_FOUND_URL_NAME),
]
