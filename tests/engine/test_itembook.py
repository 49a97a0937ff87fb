"""The per-item bookkeeping in ``LedgerEntry.extra`` is typed and versioned.

``fixtures/extra_v1.json`` holds ``extra`` dicts the engine wrote before the typed
book (a full run of the default sandbox)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.itembook import (
    BOOK_VERSION,
    AmbiguousWrite,
    BookVersionError,
    ItemBook,
    PendingIntent,
    SkippedFile,
    Unreachable,
)
from engine.provenance import RunWrites

FIXTURES = Path(__file__).parent / "fixtures"


def old_extras() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads((FIXTURES / "extra_v1.json").read_text())
    return data


def without_empties(extra: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in extra.items() if not (v is None or v is False or v in ([], {}))}


@pytest.mark.parametrize("ado_id", sorted(old_extras()))
def test_an_old_extra_loads_and_is_written_back_under_the_same_keys(ado_id: str) -> None:
    old = old_extras()[ado_id]
    book = ItemBook.from_dict(old)
    assert book.steps == {int(p): rev for p, rev in old["steps"].items()}
    assert book.synced_rev == old["synced_rev"]
    assert book.jira_type_id == old["type"]
    assert book.runs["run-1"] == RunWrites.from_dict(old["runs"]["run-1"])
    assert not book.other
    assert book.to_dict() == {**without_empties(old), "v": BOOK_VERSION}


def test_the_keys_of_every_part_of_an_old_extra_are_read() -> None:
    old = {
        "steps": {"2": 4},
        "pending": {"token": "abc", "phase": 3},
        "suspect": True,
        "resync": True,
        "ambiguous": [
            {"kind": "comment", "id": "301"},
            {"kind": "attachment", "id": "g1", "name": "a.png", "size": 12},
        ],
        "unreachable": {"jiraType": "Bug", "status": "Done", "leftAt": "Open"},
        "images_not_fetched": [{"url": "https://elsewhere.example/i.png", "reason": "foreign"}],
        "skipped_attachments": [
            {
                "id": "g2",
                "name": "dump.bin",
                "size": 11,
                "limit": 10,
                "reason": "larger than Jira's upload limit",
                "adoUrl": "https://ado.example/a/g2",
                "itemUrl": "https://ado.example/_workitems/edit/7",
            }
        ],
        "something_new": {"kept": 1},
    }
    book = ItemBook.from_dict(old)
    assert book.pending == [PendingIntent("abc", 3)]
    assert book.suspect and book.resync
    assert book.ambiguous == [
        AmbiguousWrite("comment", "301"),
        AmbiguousWrite("attachment", "g1", "a.png", 12),
    ]
    assert book.unreachable == Unreachable("Bug", "Done", "Open")
    assert book.skipped_attachments[0] == SkippedFile(
        "g2",
        "dump.bin",
        11,
        10,
        "larger than Jira's upload limit",
        "https://ado.example/a/g2",
        "https://ado.example/_workitems/edit/7",
    )
    assert book.other == {"something_new": {"kept": 1}}
    # one intent was saved as a dict; intents are a list now (one per phase)
    assert book.to_dict() == {**old, "pending": [old["pending"]], "v": BOOK_VERSION}


def test_an_early_engines_phase_4_intent_becomes_a_read_back() -> None:
    book = ItemBook.from_dict({"pending4": True})
    assert book.adopted
    assert "pending4" not in book.to_dict()


def test_a_book_round_trips_through_its_stored_form() -> None:
    book = ItemBook.from_dict(old_extras()[sorted(old_extras())[0]])
    book.intend("t", 4)
    book.intend("t", 3)
    book.intend("u", 4)  # one intent per phase: the later one replaces it
    assert book.pending == [PendingIntent("t", 3), PendingIntent("u", 4)]
    book.ambiguous.append(AmbiguousWrite("transition", "Done"))
    book.add_not_fetched("https://x.example/" + "p" * 600, "foreign")
    book.add_rules("comment", "attachment")
    stored = json.loads(json.dumps(book.to_dict()))
    assert ItemBook.from_dict(stored) == book
    assert len(book.images_not_fetched[0].url) == 500


def test_an_empty_extra_is_an_empty_book() -> None:
    assert ItemBook.from_dict({}) == ItemBook()
    assert ItemBook().to_dict() == {"v": BOOK_VERSION}


def test_a_book_of_an_unknown_version_is_refused() -> None:
    with pytest.raises(BookVersionError, match="version 3"):
        ItemBook.from_dict({"v": 3, "steps": {}})


def test_the_history_revision_round_trips_and_old_books_have_none() -> None:
    book = ItemBook(history_rev=17)
    assert book.to_dict()["history_rev"] == 17
    assert ItemBook.from_dict(book.to_dict()).history_rev == 17
    for old in old_extras().values():
        assert ItemBook.from_dict(old).history_rev is None
