from __future__ import annotations


class AdoClient:
    def __init__(self, base_url: str, org: str, project: str, pat: str, **_: object) -> None:
        self.base_url, self.org, self.project = base_url, org, project
