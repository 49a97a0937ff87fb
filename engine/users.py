"""ADO identities to Jira accountIds, by e-mail, cached for the run.

The search is by e-mail first: an answer showing the same address is that
person (a single answer with a hidden address is taken too). Jira does not
match an address its owner hides, so when the e-mail finds nobody the search is
repeated with the ADO display name, and a single active user with exactly that
display name and a hidden address is taken. Lookups that fail (no permission to browse
users, a 4xx) count as unmapped: the run goes on and the report lists them.
The resolved map is saved with the plan, so a resumed run does not look again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from engine.errors import AuthError, PermanentError, TransientError
from engine.ports import JiraTarget


def pick_account(email: str, users: Iterable[Mapping[str, Any]]) -> str | None:
    """The accountId that an exact e-mail search answer stands for, if any."""
    active = [u for u in users if u.get("active", True) and u.get("accountId")]
    exact = [u for u in active if str(u.get("emailAddress") or "").lower() == email.lower()]
    if exact:
        return str(exact[0]["accountId"])
    hidden = [u for u in active if not u.get("emailAddress")]
    if len(active) == 1 and hidden:
        return str(hidden[0]["accountId"])
    return None


def pick_by_name(display_name: str, users: Iterable[Mapping[str, Any]]) -> str | None:
    """A single active user with exactly this display name and a hidden address."""
    wanted = display_name.strip().lower()
    same = [
        u
        for u in users
        if u.get("active", True)
        and u.get("accountId")
        and str(u.get("displayName") or "").strip().lower() == wanted
    ]
    if len(same) == 1 and not same[0].get("emailAddress"):
        return str(same[0]["accountId"])
    return None


class UserDirectory:
    """E-mail (lower case) -> accountId or None, looked up at most once each."""

    def __init__(self, target: JiraTarget, known: Mapping[str, str | None] | None = None) -> None:
        self._target = target
        self._cache: dict[str, str | None] = {k.lower(): v for k, v in (known or {}).items()}
        self._lock = threading.Lock()
        self.lookups = 0

    def resolve(self, emails: Iterable[str], names: Mapping[str, str] | None = None) -> None:
        """Look up every e-mail not resolved yet (AuthError propagates: bad credentials).

        ``names`` maps e-mail -> ADO display name, for the hidden-address fallback.
        """
        for email in sorted({e.lower() for e in emails if e}):
            with self._lock:
                if email in self._cache:
                    continue
            account = self._lookup(email, (names or {}).get(email))
            with self._lock:
                self._cache[email] = account

    def _lookup(self, email: str, display_name: str | None) -> str | None:
        account = pick_account(email, self._search(email))
        if account is None and display_name:
            account = pick_by_name(display_name, self._search(display_name))
        return account

    def _search(self, query: str) -> list[dict[str, Any]]:
        self.lookups += 1
        try:
            return self._target.find_users(query)
        except AuthError:
            raise
        except (PermanentError, TransientError):
            return []

    def accounts(self) -> dict[str, str]:
        """Only the mapped e-mails (what content rules need)."""
        with self._lock:
            return {k: v for k, v in self._cache.items() if v}

    def snapshot(self) -> dict[str, str | None]:
        with self._lock:
            return dict(self._cache)

    def unmapped(self, emails: Iterable[str]) -> list[str]:
        with self._lock:
            return sorted({e.lower() for e in emails if not self._cache.get(e.lower())})
