from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.staticfiles.views import serve as serve_static
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt

from migrations_app.api.errors import NOT_FOUND_URL_NAME, api_not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    # The live stream first: the API's catch-all would answer it with 404.
    path("", include("migrations_app.live.urls")),
    path("api/", include("migrations_app.api.urls")),
    # "/api" itself is the API's too: a 404 in its shape, not APPEND_SLASH's HTML 301.
    re_path(r"^api$", csrf_exempt(api_not_found), name=NOT_FOUND_URL_NAME),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("migrations_app.dashboard.urls")),
    # The dashboard's and the admin's few static files, found in place (no collectstatic)
    # under any ASGI server; a proxy in front may serve STATIC_ROOT instead.
    re_path(r"^static/(?P<path>.*)$", serve_static, {"insecure": True}),
]

# Outside DRF's views (middleware, a disallowed Host, unknown URLs with DEBUG off)
# /api/ still answers in its {"code", "message", "details"} shape; pages keep
# Django's HTML. What answers without a handler (the CSRF failure page, a debug
# page) is reshaped by migrations_app.api.middleware.
handler400 = "migrations_app.api.errors.handler400"
handler403 = "migrations_app.api.errors.handler403"
handler404 = "migrations_app.api.errors.handler404"
handler500 = "migrations_app.api.errors.handler500"
