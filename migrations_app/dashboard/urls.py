from django.urls import path, re_path

from migrations_app.dashboard import views

app_name = "dashboard"

RUN = "projects/<str:project_id>/runs/<str:run_id>"

urlpatterns = [
    path("", views.projects, name="projects"),
    path("projects/<str:project_id>", views.project, name="project"),
    path("projects/<str:project_id>/start", views.start_run, name="start"),
    path("projects/<str:project_id>/connection", views.connection_save, name="connection"),
    path(
        "projects/<str:project_id>/connection/delete",
        views.connection_delete,
        name="connection-delete",
    ),
    path("projects/<str:project_id>/schedule", views.schedule_save, name="schedule"),
    re_path(
        r"^projects/(?P<project_id>[^/]+)/schedule/(?P<action>pause|resume|delete)$",
        views.schedule_control,
        name="schedule-control",
    ),
    path(RUN, views.run_page, name="run"),
    path(f"{RUN}/state", views.run_state, name="run-state"),
    path(f"{RUN}/panels", views.run_panels, name="run-panels"),
    path(f"{RUN}/stream-token", views.stream_token, name="run-stream-token"),
    path(f"{RUN}/report", views.run_report, name="run-report"),
    path(f"{RUN}/crosswalk.csv", views.run_crosswalk, name="run-crosswalk"),
    path(f"{RUN}/items/<int:ado_id>", views.run_item, name="run-item"),
    path(f"{RUN}/rollback", views.rollback, name="rollback"),
    path(f"{RUN}/rollback/preview", views.rollback_preview, name="rollback-preview"),
    re_path(
        r"^projects/(?P<project_id>[^/]+)/runs/(?P<run_id>[^/]+)/(?P<action>pause|resume|cancel)$",
        views.run_control,
        name="run-control",
    ),
    path("runs/<str:run_id>", views.run_shortcut, name="run-shortcut"),
]
