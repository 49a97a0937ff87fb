"""The user map: ADO identities to Jira people, on top of the e-mail lookup.

``options.user_map`` maps an ADO e-mail, unique name or display name to a Jira
e-mail or accountId. :func:`parse_user_map` validates it into typed entries and
problems (each with a code and the offending key); :class:`UserResolver` answers
"which accountId is this ADO identity" by the map first (e-mail, then unique
name, then display name, all case-insensitive), and otherwise by the identity's
own e-mail through an e-mail lookup callable (``UserDirectory`` after its
``resolve``), and records every identity it could not place with the ids of the
items it appeared on, for the report.

Keys are matched after trimming and lower-casing, with runs of spaces folded, so
"Jamal  Hartnett" and "jamal hartnett" are one key; two keys that fold to the
same text but point at different people are a problem, not a silent pick.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.model import Identity
from engine.users import UserDirectory

TargetKind = Literal["email", "accountId"]
ResolvedVia = Literal["user_map", "email", "unmapped"]
EmailLookup = Callable[[str], str | None]  # Jira e-mail (lower case) -> accountId

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Jira accountIds: 24 hex digits (older) or "<number>:<uuid>" (newer); be lenient on the form.
_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:_-]{5,127}$")
KEY_LIMIT = 512


@dataclass(frozen=True)
class UserMapProblem:
    code: str  # not-an-object | empty-key | key-too-long | bad-target | conflicting-keys
    key: str
    message: str


@dataclass(frozen=True)
class UserMapEntry:
    key: str  # the folded ADO e-mail, unique name or display name
    source: str  # the key as the user wrote it
    target: str  # Jira e-mail (lower case) or accountId
    kind: TargetKind


@dataclass
class UserMap:
    entries: dict[str, UserMapEntry] = field(default_factory=dict)
    problems: list[UserMapProblem] = field(default_factory=list)

    def get(self, key: str | None) -> UserMapEntry | None:
        return self.entries.get(fold(key)) if key else None


def fold(key: str) -> str:
    """The form keys are compared in: trimmed, lower case, runs of spaces folded."""
    return " ".join(key.split()).lower()


def target_kind(value: str) -> TargetKind | None:
    """Whether a map target is a Jira e-mail or an accountId (None: neither)."""
    if _EMAIL.match(value):
        return "email"
    if _ACCOUNT_ID.match(value):
        return "accountId"
    return None


def _entry(source: Any, target: Any) -> UserMapEntry | UserMapProblem:
    key = fold(source) if isinstance(source, str) else ""
    if not key:
        return UserMapProblem("empty-key", str(source), "user_map: an empty ADO identity key")
    if len(key) > KEY_LIMIT:
        return UserMapProblem("key-too-long", source[:80], "user_map: key longer than 512")
    wanted = target.strip() if isinstance(target, str) else ""
    kind = target_kind(wanted) if wanted else None
    if kind is None:
        return UserMapProblem(
            "bad-target",
            source,
            f"user_map[{source!r}]: {target!r} is neither a Jira e-mail nor an accountId",
        )
    return UserMapEntry(key, source, wanted.lower() if kind == "email" else wanted, kind)


def parse_user_map(raw: Any) -> UserMap:
    """Validate ``options.user_map``; bad entries become problems and are left out."""
    out = UserMap()
    if raw is None:
        return out
    if not isinstance(raw, Mapping):
        out.problems.append(
            UserMapProblem("not-an-object", "", "user_map must be an object of key -> person")
        )
        return out
    for source, target in raw.items():
        made = _entry(source, target)
        if isinstance(made, UserMapProblem):
            out.problems.append(made)
            continue
        seen = out.entries.get(made.key)
        if seen is not None and seen.target != made.target:
            out.problems.append(
                UserMapProblem(
                    "conflicting-keys",
                    made.source,
                    f"user_map: {seen.source!r} and {made.source!r} are the same identity "
                    f"but map to {seen.target!r} and {made.target!r}",
                )
            )
            continue
        out.entries[made.key] = made
    return out


# --------------------------------------------------------------------------- resolving
@dataclass(frozen=True)
class Resolution:
    account_id: str | None
    via: ResolvedVia
    key: str  # what matched (map key, or the e-mail looked up), or the identity's best name


@dataclass(frozen=True)
class UnmappedIdentity:
    display_name: str
    email: str | None
    item_count: int
    item_ids: tuple[int, ...]


def _email_of(identity: Identity) -> str | None:
    unique = (identity.unique_name or "").strip().lower()
    return unique if "@" in unique else None


def identity_keys(identity: Identity) -> list[str]:
    """The keys a map may name this identity by, in the order they are tried."""
    keys = [identity.unique_name or "", identity.display_name]
    return [k for k in dict.fromkeys(fold(k) for k in keys if k and k.strip())]


def directory_lookup(directory: UserDirectory) -> EmailLookup:
    """What ``UserDirectory`` found, as the resolver's lookup.

    Call ``directory.resolve(resolver.lookup_emails(identities))`` first: this
    reads the directory's answers as they are now and searches nothing itself.
    """
    accounts = directory.accounts()

    def lookup(email: str) -> str | None:
        return accounts.get(email.lower())

    return lookup


class UserResolver:
    """ADO identity -> accountId: the user map first, then the identity's own e-mail."""

    def __init__(self, user_map: UserMap, lookup: EmailLookup) -> None:
        self._map = user_map
        self._lookup = lookup
        self._unmapped: dict[str, tuple[Identity, set[int]]] = {}

    def lookup_emails(self, identities: Iterable[Identity]) -> set[str]:
        """Every Jira e-mail that must be looked up for these identities (for ``UserDirectory``)."""
        out: set[str] = set()
        for identity in identities:
            entry = self._entry_for(identity)
            if entry is not None:
                if entry.kind == "email":
                    out.add(entry.target)
            elif (email := _email_of(identity)) is not None:
                out.add(email)
        return out

    def _entry_for(self, identity: Identity) -> UserMapEntry | None:
        for key in identity_keys(identity):
            entry = self._map.entries.get(key)
            if entry is not None:
                return entry
        return None

    def resolve(
        self, identity: Identity | None, item_id: int | None = None, *, record: bool = True
    ) -> Resolution:
        """Who this identity is in Jira; an unplaced one is recorded unless ``record`` is off."""
        if identity is None:
            return Resolution(None, "unmapped", "")
        entry = self._entry_for(identity)
        if entry is not None:
            account = entry.target if entry.kind == "accountId" else self._lookup(entry.target)
            if account:
                return Resolution(account, "user_map", entry.key)
        else:
            email = _email_of(identity)
            account = self._lookup(email) if email else None
            if account:
                return Resolution(account, "email", email or "")
        if record:
            self._remember(identity, item_id)
        keys = identity_keys(identity)
        return Resolution(None, "unmapped", keys[0] if keys else "")

    def _remember(self, identity: Identity, item_id: int | None) -> None:
        keys = identity_keys(identity)
        if not keys:
            return
        _, items = self._unmapped.setdefault(keys[0], (identity, set()))
        if item_id is not None:
            items.add(item_id)

    def account_for(self, identity: Identity | None, item_id: int | None = None) -> str | None:
        return self.resolve(identity, item_id).account_id

    def accounts_by_email(self, identities: Iterable[Identity]) -> dict[str, str]:
        """ADO e-mail -> accountId with the map applied: the shape ``ContentContext.users`` takes.

        Identities without an e-mail cannot be keyed here; the content rules find
        nobody for them (see the module notes in the report).
        """
        out: dict[str, str] = {}
        for identity in identities:
            email = _email_of(identity)
            account = self.resolve(identity, record=False).account_id if email else None
            if email and account:
                out[email] = account
        return out

    def unmapped(self) -> list[UnmappedIdentity]:
        """Every identity not placed, most items first, then by name."""
        rows = [
            UnmappedIdentity(
                identity.display_name, _email_of(identity), len(items), tuple(sorted(items))
            )
            for identity, items in self._unmapped.values()
        ]
        return sorted(rows, key=lambda r: (-r.item_count, r.display_name.lower()))
