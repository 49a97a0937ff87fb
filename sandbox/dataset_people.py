"""The generated project's people, and how ADO renders a person (an IdentityRef
in fields and comments, an @mention in rich text)."""

from __future__ import annotations

import hashlib
import random
from html import escape
from typing import Any

from sandbox.people import Person

_FIRST = [
    "Jamal",
    "Johnnie",
    "Christie",
    "Helena",
    "Raisa",
    "Chuck",
    "Mateo",
    "Ingrid",
    "Priya",
    "Zoë",
    "Tomás",
    "Aiko",
]
_LAST = [
    "Hartnett",
    "McLeod",
    "Church",
    "Petersen",
    "Pokrovskaya",
    "Reed",
    "García",
    "Nyström",
    "Raman",
    "Lefèvre",
    "Ó Briain",
    "Tanaka",
]


def make_people(seed: int) -> tuple[Person, ...]:
    """Twelve people; two have no Jira account, two hide their e-mail in Jira, and two
    have a Jira account under another address (``@fabrikam-corp.example``)."""
    out = []
    for i, (first, last) in enumerate(zip(_FIRST, _LAST, strict=True)):
        slug = f"{first}.{last}".lower().replace(" ", "").replace("ë", "e").replace("á", "a")
        slug = slug.replace("è", "e").replace("ö", "o").replace("ó", "o")
        out.append(
            Person(
                f"{first} {last}",
                f"{slug}@fabrikam.example",
                in_jira=i not in (9, 10),
                email_hidden=i in (3, 7),
                jira_email=f"{slug}@fabrikam-corp.example" if i in (1, 5) else "",
            )
        )
    random.Random(seed).shuffle(out)
    return tuple(out)


def identity_ref(person: Person, base_url: str, org: str) -> dict[str, Any]:
    """An IdentityRef as ADO renders it inside fields and comments."""
    pid = person.ado_id
    descriptor = "aad." + hashlib.sha256(pid.encode()).hexdigest()[:40]
    return {
        "displayName": person.display_name,
        "url": f"{base_url}/{org}/_apis/Identities/{pid}",
        "_links": {
            "avatar": {"href": f"{base_url}/{org}/_apis/GraphProfile/MemberAvatars/{descriptor}"}
        },
        "id": pid,
        "uniqueName": person.email,
        "imageUrl": f"{base_url}/{org}/_api/_common/identityImage?id={pid}",
        "descriptor": descriptor,
    }


def mention_html(person: Person) -> str:
    """An @mention exactly as the ADO rich-text editor stores it."""
    return (
        f'<a href="#" data-vss-mention="version:2.0,{person.ado_id}">'
        f"@{escape(person.display_name)}</a>"
    )
