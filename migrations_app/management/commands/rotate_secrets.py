"""rotate_secrets: re-encrypt every stored secret with the first FIELD_ENCRYPTION_KEY.

Key rotation: put the new key first in FIELD_ENCRYPTION_KEY (keep the old ones
after it), restart, run this, then remove the old keys. Exits non-zero when some
secret could not be decrypted with any listed key.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from migrations_app.keyrotation import rotate_stored_secrets


class Command(BaseCommand):
    help = "Re-encrypt the stored PATs and API tokens with the first FIELD_ENCRYPTION_KEY."

    def handle(self, *args: Any, **options: Any) -> None:
        result = rotate_stored_secrets()
        self.stdout.write(f"re-encrypted {result.rotated} secret(s) with the first key")
        if result.unreadable:
            raise CommandError(
                f"{result.unreadable} secret(s) could not be decrypted with any listed key"
            )
