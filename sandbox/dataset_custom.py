"""The custom fields of a customised process: each item's values, deterministic per seed.

One value type of each kind ADO knows (string, integer, double, dateTime,
boolean, identity, ";"-separated multi-value, html), set on most (not all) items
of the types ``ado_fields.TYPE_FIELDS`` lists them for. Drawn from a generator of
their own (salt ``CUSTOM_SALT``) so the other fields of an item stay as they were.
"""

from __future__ import annotations

from datetime import timedelta
from html import escape
from typing import TYPE_CHECKING, Any

from sandbox.dataset_people import identity_ref
from sandbox.dataset_process import BUG, EPIC, FEATURE, RISK, STORY, TASK
from sandbox.dataset_records import EPOCH, iso
from sandbox.dataset_words import WORDS

if TYPE_CHECKING:
    from sandbox.dataset import Dataset

CUSTOM_SALT = 1207
SET_SHARE = 0.85  # of the items of a type that holds the field
CUSTOMERS = ("Contoso Ltd", "Northwind Traders", "Adventure Works", "Tailspin Toys", "Litware")
PLATFORMS = ("Web", "iOS", "Android", "Desktop")

# field -> the kinds of work item that carry it
CARRIERS: dict[str, tuple[int, ...]] = {
    "Custom.Customer": (STORY, BUG),
    "Custom.RiskScore": (RISK,),
    "Custom.Confidence": (EPIC, FEATURE),
    "Custom.Deadline": (FEATURE, STORY),
    "Custom.Billable": (TASK,),
    "Custom.Reviewer": (STORY, BUG),
    "Custom.Platforms": (FEATURE, STORY),
    "Custom.Notes": (EPIC, FEATURE),
}


def _value(d: Dataset, ident: int, ref: str, rng: Any, base_url: str) -> Any:
    if ref == "Custom.Customer":
        return rng.choice(CUSTOMERS)
    if ref == "Custom.RiskScore":
        return rng.randint(1, 25)
    if ref == "Custom.Confidence":
        return round(rng.uniform(0.1, 1.0), 2)
    if ref == "Custom.Deadline":
        return iso(EPOCH + timedelta(days=90 + ident % 400, hours=rng.randint(8, 17)))
    if ref == "Custom.Billable":
        return rng.random() < 0.5
    if ref == "Custom.Reviewer":
        return identity_ref(rng.choice(d.people), base_url, d.org)
    if ref == "Custom.Platforms":
        chosen = set(rng.sample(PLATFORMS, rng.randint(1, 3)))
        return "; ".join(p for p in PLATFORMS if p in chosen)
    return f"<div>Notes: <b>{escape(rng.choice(WORDS))}</b> needs a decision.</div>"


def custom_fields(d: Dataset, ident: int, kind: int, base_url: str) -> dict[str, Any]:
    """The custom field values of one item (fields it does not hold are absent)."""
    rng = d.item_rng(ident, CUSTOM_SALT)
    out: dict[str, Any] = {}
    for ref, kinds in CARRIERS.items():
        if kind not in kinds:
            continue
        keep = rng.random() < SET_SHARE
        value = _value(d, ident, ref, rng, base_url)  # drawn either way: values stay stable
        if keep:
            out[ref] = value
    return out
