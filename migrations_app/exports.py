"""Downloads shared by the API and the dashboard."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.http import StreamingHttpResponse

from migrations_app import selectors
from migrations_app.models import MigrationRun


class _Echo:
    """A file-like object whose write returns the line, so csv rows can be streamed."""

    def write(self, value: str) -> str:
        return value


def crosswalk_response(run: MigrationRun) -> StreamingHttpResponse:
    """ADO id → Jira key for every item the run's project has migrated so far, as CSV."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(selectors.CROSSWALK_COLUMNS)
        for row in selectors.crosswalk_rows(run=run):
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="crosswalk-{run.project_id}.csv"'
    return response
