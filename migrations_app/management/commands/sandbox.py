"""``python manage.py sandbox``: serve the simulated Azure DevOps and Jira Cloud.

Thin on purpose: parses the options and hands over to :mod:`sandbox.runner`.
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from sandbox import runner


class Command(BaseCommand):
    help = "Serve the ADO and Jira sandboxes on loopback; prints one JSON line with the URLs."

    def add_arguments(self, parser: ArgumentParser) -> None:
        runner.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        # The JSON line must reach stdout unwrapped (no styling, flushed at once).
        try:
            runner.serve(runner.options_from(options), out=sys.stdout)
        except runner.OptionsError as exc:
            # Options that parse but fit no sandbox (a route selector naming no route):
            # a usage error, exit status 2, as ``python -m sandbox`` answers it.
            raise CommandError(str(exc), returncode=2) from exc
