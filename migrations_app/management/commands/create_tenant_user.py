"""create_tenant_user --tenant SLUG --username NAME --password PW [--email E]

Creates the tenant when missing, then the user in it. Idempotent: running it
twice changes nothing (an existing user keeps its password unless it differs,
and is never moved to another tenant silently).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.text import slugify

from migrations_app.services import tenant_user_ensure


class Command(BaseCommand):
    help = "Create a tenant (when missing) and a user in it; running it twice changes nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--email", default="")
        parser.add_argument("--tenant-name", default="", help="display name for a new tenant")

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["tenant"]
        if slugify(slug) != slug:
            raise CommandError(f"--tenant must be a slug (lowercase, digits, -): {slug!r}")
        try:
            result = tenant_user_ensure(
                tenant_slug=slug,
                tenant_name=options["tenant_name"] or slug,
                username=options["username"],
                password=options["password"],
                email=options["email"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(result)
