"""ASGI entry point: ``uvicorn migrator_site.asgi:application``."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "migrator_site.settings")

application = get_asgi_application()
