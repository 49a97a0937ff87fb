from __future__ import annotations

from typing import Any


class JiraClient:
    def __init__(
        self, base_url: str, email: str, api_token: str, *, limiter: Any = None, **_: object
    ) -> None:
        self.base_url, self.email = base_url, email
