"""Content negotiation for the JSON views: an unknown ``?format=`` is 406.

DRF answers ``Http404`` when ``?format=`` names no renderer, which would make
every operation's documented 404 mean "wrong format" as well as "no such id".
It is the same refusal as an ``Accept`` header that JSON does not satisfy.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation


class JsonNegotiation(DefaultContentNegotiation):
    def filter_renderers(self, renderers: Any, format: str) -> Any:
        kept = [renderer for renderer in renderers if renderer.format == format]
        if not kept:
            raise NotAcceptable("That format is not served; responses are JSON.")
        return kept


class JsonViewMixin:
    """For every JSON /api/ view (DRF's, simplejwt's and ours)."""

    content_negotiation_class: type[BaseContentNegotiation] = JsonNegotiation
