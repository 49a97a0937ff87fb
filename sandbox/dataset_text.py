"""Rendering a generated item's content: its system and type fields, its rich-text
description (role items carry every construct a converter must handle), and its
comments. Each item renders from its own seeded generator, so it is the same
every time and nothing is kept in memory.
"""

from __future__ import annotations

import random
from datetime import timedelta
from html import escape
from typing import TYPE_CHECKING, Any

from sandbox import dataset_custom
from sandbox.dataset_people import identity_ref, mention_html
from sandbox.dataset_process import BUG, EPIC, FEATURE, ISSUE, REASONS, RISK, STORY, TASK
from sandbox.dataset_records import EPOCH, CommentRecord, iso
from sandbox.dataset_words import TAGS, VERBS, WORDS, slug
from sandbox.people import Person

if TYPE_CHECKING:
    from sandbox.dataset import Dataset


def system_fields(d: Dataset, ident: int, rng: random.Random, base_url: str) -> dict[str, Any]:
    author = rng.choice(d.people)
    changer = rng.choice(d.people)
    area, iteration = d.areas[d.area_of[ident]], d.iterations[d.iteration_of[ident]]
    state = d.state_name(ident)
    assigned = rng.choice(d.people) if rng.random() < 0.8 else None
    rev = 1 + (d.changed_min[ident] - d.created_min[ident]) // (60 * 24 * 4) + (state != "New")
    fields: dict[str, Any] = {
        "System.Id": ident,
        "System.AreaId": area.id,
        "System.AreaPath": area.path,
        "System.TeamProject": d.project,
        "System.NodeName": area.name,
        "System.Rev": rev,
        "System.AuthorizedDate": d.changed_date(ident),
        "System.RevisedDate": "9999-01-01T00:00:00Z",
        "System.IterationId": iteration.id,
        "System.IterationPath": iteration.path,
        "System.WorkItemType": d.type_name(ident),
        "System.State": state,
        "System.Reason": REASONS[state],
        "System.AssignedTo": identity_ref(assigned, base_url, d.org) if assigned else None,
        "System.CreatedDate": d.created_date(ident),
        "System.CreatedBy": identity_ref(author, base_url, d.org),
        "System.ChangedDate": d.changed_date(ident),
        "System.ChangedBy": identity_ref(changer, base_url, d.org),
        "System.CommentCount": sum(1 for c in d.comments_for(ident) if not c.is_deleted),
        "System.Title": _title(d, ident, rng),
        "System.Tags": "; ".join(sorted(rng.sample(TAGS, rng.randint(1, 3))))
        if rng.random() < 0.4
        else None,
        "System.Parent": d.parent(ident) or None,
        "Microsoft.VSTS.Common.StateChangeDate": d.changed_date(ident),
        "Microsoft.VSTS.Common.Priority": rng.randint(1, 4),
    }
    fields.update(_levels("System.AreaLevel", area.path))
    fields.update(_levels("System.IterationLevel", iteration.path))
    if state in ("Resolved", "Closed", "Mitigated"):
        fields["Microsoft.VSTS.Common.ResolvedDate"] = d.changed_date(ident)
        fields["Microsoft.VSTS.Common.ResolvedBy"] = identity_ref(changer, base_url, d.org)
    if state == "Closed":
        fields["Microsoft.VSTS.Common.ClosedDate"] = d.changed_date(ident)
        fields["Microsoft.VSTS.Common.ClosedBy"] = identity_ref(changer, base_url, d.org)
    return fields


def _title(d: Dataset, ident: int, rng: random.Random) -> str:
    words = rng.sample(WORDS, 2)
    title = f"{rng.choice(VERBS)} {words[0]} {words[1]}"
    if ident == d.roles.get("epic"):
        title += ' — Q3 <platform> & "sync" 🚀'  # characters a converter must keep
    return title


def type_fields(d: Dataset, ident: int, kind: int, rng: random.Random, base: str) -> dict[str, Any]:
    desc = description_html(d, ident, base)
    custom = dataset_custom.custom_fields(d, ident, kind, base)
    if kind == BUG:
        return custom | {
            "Microsoft.VSTS.TCM.ReproSteps": desc,
            "Microsoft.VSTS.TCM.SystemInfo": "<div>Browser: Edge 126<br>OS: Windows 11 "
            f"23H2<br>Build: <code>2025.5.{ident % 97}</code></div>",
            "Microsoft.VSTS.Common.Severity": rng.choice(
                ["1 - Critical", "2 - High", "3 - Medium", "4 - Low"]
            ),
            "Microsoft.VSTS.Scheduling.StoryPoints": rng.choice([1.0, 2.0, 3.0, None]),
        }
    out: dict[str, Any] = {"System.Description": desc}
    if kind in (EPIC, FEATURE, STORY):
        out["Microsoft.VSTS.Common.ValueArea"] = rng.choice(["Business", "Architectural"])
        out["Microsoft.VSTS.Common.AcceptanceCriteria"] = _acceptance(d, ident, rng)
    if kind in (EPIC, FEATURE):
        out["Microsoft.VSTS.Scheduling.Effort"] = float(rng.choice([5, 8, 13, 20, 40]))
        out["Microsoft.VSTS.Scheduling.TargetDate"] = iso(EPOCH + timedelta(days=120 + ident % 500))
    elif kind == STORY:
        out["Microsoft.VSTS.Scheduling.StoryPoints"] = rng.choice([1.0, 2.0, 3.0, 5.0, 8.0, 13.0])
    elif kind == TASK:
        estimate = float(rng.randint(1, 16))
        out["Microsoft.VSTS.Scheduling.OriginalEstimate"] = estimate
        out["Microsoft.VSTS.Scheduling.RemainingWork"] = float(rng.randint(0, int(estimate)))
        out["Microsoft.VSTS.Scheduling.CompletedWork"] = float(rng.randint(0, 8))
        out["Microsoft.VSTS.Common.Activity"] = rng.choice(["Development", "Testing", "Design"])
    elif kind == ISSUE:
        out["Microsoft.VSTS.Scheduling.DueDate"] = iso(EPOCH + timedelta(days=60 + ident % 700))
    elif kind == RISK:
        out["Custom.Impact"] = rng.choice(["High", "Medium", "Low"])
        out["Custom.MitigationPlan"] = f"<div>Mitigation: <b>{rng.choice(WORDS)}</b></div>"
    return custom | out


def _acceptance(d: Dataset, ident: int, rng: random.Random) -> str:
    items = "".join(f"<li>Given {w}, when used, then it works</li>" for w in rng.sample(WORDS, 3))
    return f"<div><ul>{items}</ul></div>"


def description_html(d: Dataset, ident: int, base_url: str = "https://dev.azure.com") -> str:
    """Rich text as the ADO editor stores it; role items carry every construct at once."""
    rng = d.item_rng(ident, 1)
    showcase = ident in (d.roles.get("story"), d.roles.get("bug"), d.roles.get("epic"))
    parts = [
        f"<div>As a <b>customer</b> I want {escape(rng.choice(WORDS))} &amp; "
        f"{escape(rng.choice(WORDS))} so that <i>things</i> work.</div>"
    ]
    if showcase or rng.random() < 0.4:
        parts.append(
            "<ul><li>First point<ul><li>nested <i>detail</i></li><li>second "
            "nested</li></ul></li><li>Last point with <code>inline_code()</code></li></ul>"
        )
    if showcase or rng.random() < 0.15:
        parts.append(
            "<table><tbody><tr><td><b>Field</b></td><td><b>Value</b></td></tr>"
            "<tr><td>limit</td><td>200</td></tr><tr><td>ü &lt;ok&gt;</td><td>✓</td></tr>"
            "</tbody></table>"
        )
    if showcase or rng.random() < 0.15:
        parts.append(
            "<pre><code>def retry(n):\n    for i in range(n):\n        "
            "if call() &lt; 0: continue\n</code></pre>"
        )
    if showcase or rng.random() < 0.2:
        parts.append(
            f'<div>See <a href="https://docs.fabrikam.example/{slug(rng)}">the docs</a>.</div>'
        )
    if showcase or rng.random() < 0.15:
        parts.append(f"<div>cc {mention_html(rng.choice(d.people))} please review</div>")
    if (showcase or rng.random() < 0.15) and ident > 1:
        parts.append(f"<div>Related to #{rng.randrange(1, ident)} (see also #{ident})</div>")
    for info in d.inline_images(ident):
        url = (
            f"{base_url}/{d.org}/{d.project_id}/_apis/wit/attachments/{info.guid}"
            f"?fileName={info.name}"
        )
        parts.append(f'<div><img src="{url}" alt="Image"><br></div>')
    return "".join(parts)


def comments_for(d: Dataset, ident: int) -> list[CommentRecord]:
    """Oldest first. Ids are ``item * 100 + n`` so they never collide across items."""
    rng = d.item_rng(ident, 2)
    r = d.roles
    roll = rng.random()
    count = 0 if roll < 0.55 else 1 + int((roll - 0.55) * 10) if roll < 0.95 else rng.randint(6, 12)
    if ident == r.get("story"):
        count = 7
    elif ident == r.get("epic"):
        count = max(count, 2)  # holds the markdown comment
    # Comments fall between creation and the last change, as adding or editing a
    # comment is itself a change of the work item in ADO.
    start = EPOCH + timedelta(minutes=d.created_min[ident])
    window = (d.changed_min[ident] - d.created_min[ident]) * 60
    out = []
    for n in range(count):
        created = start + timedelta(seconds=window * (n + 1) // (count + 2))
        author = rng.choice(d.people)
        edited = rng.random() < 0.15 or (ident == r.get("story") and n == 1)
        modified = created + timedelta(seconds=window // (count + 2) // 2) if edited else created
        mentions: tuple[Person, ...] = ()
        text = f"<div>{escape(rng.choice(VERBS))} the {escape(rng.choice(WORDS))} part.</div>"
        if rng.random() < 0.2 or (ident == r.get("story") and n == 2):
            who = rng.choice(d.people)
            mentions = (who,)
            text = f"<div>{mention_html(who)} can you take a look at #{max(1, ident - 1)}?</div>"
        fmt = "html"
        if ident == r.get("epic") and n == 0:
            fmt, text = (
                "markdown",
                "**Kick-off** done. See [plan](https://wiki.fabrikam.example)",
            )
        out.append(
            CommentRecord(
                id=ident * 100 + n + 1,
                work_item_id=ident,
                text=text,
                author=author,
                created=iso(created),
                modified=iso(modified),
                version=2 if edited else 1,
                is_deleted=ident == r.get("story") and n == 4,
                format=fmt,
                mentions=mentions,
            )
        )
    return out


def _levels(prefix: str, path: str) -> dict[str, str]:
    return {f"{prefix}{i}": part for i, part in enumerate(path.split("\\"), start=1)}
