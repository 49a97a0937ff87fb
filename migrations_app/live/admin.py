"""A read-only admin view of the stored live events (django-eventstream's table).

Filter one run's events with ``?channel=run-{runId}`` (the run's channel) or the
search box; payloads are shown as stored. Events carry no secrets: the worker's
sink scrubs them before publishing.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django_eventstream.models import Event

from migrations_app.live.channels import run_id_of


class ChannelFilter(admin.SimpleListFilter):
    title = "run channel"
    parameter_name = "channel"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        channels = (
            Event.objects.filter(eid__gt=0)
            .order_by("-id")
            .values_list("channel", flat=True)
            .distinct()[:20]
        )
        return [(c, c) for c in dict.fromkeys(channels)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Event]) -> QuerySet[Event]:
        value = self.value()
        return queryset.filter(channel=value) if value else queryset


@admin.register(Event)
class RunEventAdmin(admin.ModelAdmin):
    list_display = ("channel", "eid", "type", "payload", "created", "run_link")
    list_filter = (ChannelFilter, "type")
    search_fields = ("=channel",)
    ordering = ("channel", "eid")
    list_per_page = 200
    readonly_fields = ("channel", "eid", "type", "data", "created")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Event]:
        # eid 0 is the library's placeholder row, not an event.
        return super().get_queryset(request).filter(eid__gt=0)

    @admin.display(description="data")
    def payload(self, event: Event) -> str:
        try:  # stored JSON-encoded twice: the payload's JSON text, as a JSON string
            text = str(json.loads(event.data))
        except ValueError:
            text = event.data
        return text if len(text) <= 160 else text[:157] + "…"

    @admin.display(description="run")
    def run_link(self, event: Event) -> str:
        run_id = run_id_of(event.channel)
        if run_id is None:
            return "-"
        url = reverse("admin:migrations_app_migrationrun_change", args=[run_id])
        return format_html('<a href="{}">{}</a>', url, str(run_id)[:8])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
