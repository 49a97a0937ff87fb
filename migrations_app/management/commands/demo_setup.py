"""demo_setup < sandbox.json

Reads the sandbox's JSON line (``manage.py sandbox``) on stdin (so the sandbox
secrets stay out of the process list) and brings the demo's tenant, user,
project, saved connection and schedule up to date (migrations_app.demo). Prints
one JSON line: ``{"projectId", "projectCreated", "cancelledRuns", "ledgerForgotten"}``.
Running it again with new sandboxes updates the same project.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from migrations_app.demo import SandboxConnection, setup_demo


class Command(BaseCommand):
    help = "Set up (or bring up to date) the demo project for the sandbox line read on stdin."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            sandbox = SandboxConnection.from_line(json.loads(sys.stdin.readline()))
        except (ValueError, KeyError, TypeError) as exc:
            raise CommandError(f"expected the sandbox's JSON line on stdin: {exc}") from exc
        result = setup_demo(sandbox)
        self.stdout.write(
            json.dumps(
                {
                    "projectId": str(result.project_id),
                    "projectCreated": result.project_created,
                    "cancelledRuns": [str(run_id) for run_id in result.cancelled_runs],
                    "ledgerForgotten": result.ledger_forgotten,
                }
            )
        )
