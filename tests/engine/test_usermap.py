"""The user map: parsing, validation and resolution on top of the e-mail lookup (pure)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from engine.model import Identity
from engine.usermap import UserResolver, directory_lookup, fold, parse_user_map, target_kind
from engine.users import UserDirectory

DIRECTORY = {
    "jamal@fabrikam.example": "acc-jamal",
    "j.hartnett@corp.example": "acc-jamal-corp",
    "ana@fabrikam.example": "acc-ana",
}
JAMAL = Identity("Jamal Hartnett", "jamal@ado.example", "guid-jamal")
ANA = Identity("Ana Silva", "ana@fabrikam.example", "guid-ana")
SERVICE = Identity("Build Service", "FABRIKAM\\build", "guid-build")
NOBODY = Identity("Nobody Known", "nobody@ado.example", "guid-nobody")


def resolver(raw: Any) -> UserResolver:
    return UserResolver(parse_user_map(raw), DIRECTORY.get)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("someone@corp.example", "email"),
        ("5b10a2844c20165700ede21g", "accountId"),
        ("712020:0e3f2a1b-4c5d-4e6f-8a9b-0c1d2e3f4a5b", "accountId"),
        ("John Smith", None),
        ("", None),
        ("a@b", None),
    ],
)
def test_it_tells_emails_from_account_ids(value: str, kind: str | None) -> None:
    assert target_kind(value) == kind


@pytest.mark.parametrize(
    ("raw", "codes"),
    [
        (None, []),
        ({}, []),
        ([["a", "b"]], ["not-an-object"]),
        ("jamal", ["not-an-object"]),
        ({"": "x@corp.example"}, ["empty-key"]),
        ({"   ": "x@corp.example"}, ["empty-key"]),
        ({"jamal@ado.example": "Jamal H"}, ["bad-target"]),
        ({"jamal@ado.example": 42}, ["bad-target"]),
        ({"jamal@ado.example": None}, ["bad-target"]),
        ({"x" * 600: "x@corp.example"}, ["key-too-long"]),
        (
            {"Jamal Hartnett": "a@corp.example", "jamal  hartnett": "b@corp.example"},
            ["conflicting-keys"],
        ),
        ({"Jamal Hartnett": "a@corp.example", "JAMAL HARTNETT": "A@corp.example"}, []),
    ],
)
def test_it_validates_the_map(raw: Any, codes: list[str]) -> None:
    parsed = parse_user_map(raw)
    assert [p.code for p in parsed.problems] == codes


def test_a_bad_entry_is_left_out_and_the_rest_kept() -> None:
    parsed = parse_user_map({"a@ado.example": "nope nope", "b@ado.example": "b@corp.example"})
    assert list(parsed.entries) == ["b@ado.example"]
    assert parsed.problems[0].key == "a@ado.example"


@pytest.mark.parametrize(
    ("raw", "identity", "account", "via"),
    [
        # no map: the identity's own e-mail
        ({}, ANA, "acc-ana", "email"),
        # by ADO e-mail to a Jira e-mail that differs
        ({"jamal@ado.example": "j.hartnett@corp.example"}, JAMAL, "acc-jamal-corp", "user_map"),
        # case and spaces do not matter
        ({"  JAMAL@ADO.example ": "J.Hartnett@corp.example"}, JAMAL, "acc-jamal-corp", "user_map"),
        # by display name
        ({"jamal hartnett": "jamal@fabrikam.example"}, JAMAL, "acc-jamal", "user_map"),
        # by unique name that is no e-mail, straight to an accountId
        (
            {"fabrikam\\build": "5b10a2844c20165700ede21g"},
            SERVICE,
            "5b10a2844c20165700ede21g",
            "user_map",
        ),
        # a map entry whose Jira e-mail finds nobody: unmapped (no silent fallback)
        ({"ana@fabrikam.example": "gone@corp.example"}, ANA, None, "unmapped"),
        # not mapped and no Jira account for the e-mail
        ({}, NOBODY, None, "unmapped"),
        ({}, SERVICE, None, "unmapped"),
    ],
)
def test_it_resolves(raw: Any, identity: Identity, account: str | None, via: str) -> None:
    result = resolver(raw).resolve(identity, 1)
    assert (result.account_id, result.via) == (account, via)


def test_the_email_wins_over_the_display_name() -> None:
    users = resolver(
        {"jamal@ado.example": "ana@fabrikam.example", "Jamal Hartnett": "jamal@fabrikam.example"}
    )
    assert users.account_for(JAMAL) == "acc-ana"


def test_it_records_unmapped_identities_with_item_counts() -> None:
    users = resolver({})
    for item in (1, 2, 2, 3):
        users.resolve(NOBODY, item)
    users.resolve(SERVICE, 7)
    users.resolve(ANA, 1)
    users.resolve(None, 9)
    rows = users.unmapped()
    assert [(r.display_name, r.email, r.item_count, r.item_ids) for r in rows] == [
        ("Nobody Known", "nobody@ado.example", 3, (1, 2, 3)),
        ("Build Service", None, 1, (7,)),
    ]


def test_lookup_emails_are_the_ones_the_directory_must_search() -> None:
    users = resolver(
        {
            "jamal@ado.example": "j.hartnett@corp.example",
            "fabrikam\\build": "5b10a2844c20165700ede21g",
        }
    )
    assert users.lookup_emails([JAMAL, ANA, SERVICE]) == {
        "j.hartnett@corp.example",
        "ana@fabrikam.example",
    }


def test_accounts_by_email_feeds_the_content_rules() -> None:
    users = resolver({"jamal@ado.example": "j.hartnett@corp.example"})
    assert users.accounts_by_email([JAMAL, ANA, NOBODY, SERVICE]) == {
        "jamal@ado.example": "acc-jamal-corp",
        "ana@fabrikam.example": "acc-ana",
    }
    assert users.unmapped() == []  # building the content map records nobody


def test_fold() -> None:
    assert fold("  Jamal \t Hartnett ") == "jamal hartnett"


def test_the_user_directory_serves_as_the_lookup() -> None:
    directory = UserDirectory(
        cast(Any, None), {"J.Hartnett@corp.example": "acc-corp", "x@y.example": None}
    )
    users = UserResolver(
        parse_user_map({"jamal@ado.example": "j.hartnett@corp.example"}),
        directory_lookup(directory),
    )
    assert users.account_for(JAMAL) == "acc-corp"
    assert users.account_for(Identity("X", "x@y.example")) is None
