"""What every ADO route handler shares: the store, the names of the organisation and
project, and the URLs answers point back at (built from the request's ``Host``)."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.ado_state import AdoStore
from sandbox.dataset import Dataset
from sandbox.httpbase import Request


@dataclass(frozen=True)
class AdoSite:
    dataset: Dataset
    store: AdoStore
    org: str
    project: str
    project_id: str

    @classmethod
    def of(cls, dataset: Dataset) -> AdoSite:
        return cls(dataset, AdoStore(dataset), dataset.org, dataset.project, dataset.project_id)

    def base(self, request: Request) -> str:
        return "http://" + (request.headers.get("Host") or "127.0.0.1")

    def project_url(self, request: Request) -> str:
        return f"{self.base(request)}/{self.org}/{self.project_id}/_apis"
