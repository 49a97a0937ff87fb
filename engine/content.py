"""Content fidelity: how an ADO work item's fields become Jira content.

Each rule is one small function. ``issue_content`` applies them all and reports
which rules touched the item (``rules``) and what could not be carried (``notes``)
for the fidelity report.

Choices worth knowing:
- Only fields on the target create screen are set (``screen_fields``), except the
  summary, which Jira always requires. ``project``, ``issuetype`` and ``parent``
  are the pipeline's business and never set here.
- Priority 1–4 maps by position onto the target's priority list, highest first:
  with Jira's defaults 1 → Highest, 2 → High, 3 → Medium, 4 → Low. A shorter
  list clamps to its last (lowest) entry.
- Comments are ``engine.comments``' job.
- Area path: with ``area_as="component"`` the item gets the component the
  pipeline mapped its area path to (``components``, keyed by the full area path;
  the component is named after the path below the project root, see
  :func:`component_name`); an area with no component falls back to an
  ``area-…`` label, and an item at the project root gets neither (the panel
  still names its area).
- Iteration path: with ``iteration_as="sprint"`` an iteration that has a sprint
  (``sprints``) sets nothing here: the pipeline moves the issue into the sprint
  after creating it. Otherwise (no scrum board, or no usable sprint) the item gets
  an ``iteration-…`` label. The project root iteration (unscheduled) gets nothing.
- Attachments larger than ``upload_limit`` (and those the pipeline could not
  upload, ``skipped_files``) are listed in the migration panel with their size
  and a link to the file in Azure DevOps, so the issue itself says what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from engine.adf import ConvertContext, html_to_blocks, tidy_inlines
from engine.adf_nodes import (
    JIRA_ADF_LIMIT,
    Node,
    adf_char_length,
    adf_to_text,
    doc,
    hard_break,
    heading,
    link,
    panel,
    paragraph,
    strong,
    text,
)
from engine.html_tree import image_sources
from engine.itemvalues import (
    POINTS_SOURCES,
    area_label,
    below_root,
    email_of,
    format_date,
    identity_of,
    iteration_label,
    migration_label,
    one_line,
    person_label,
    priority_name,
    story_points,
    summary_text,
    tag_labels,
)
from engine.model import Identity, PlanningItem, WorkItem
from engine.refs import attachment_guid, same_origin
from engine.testcase_content import case_section

if TYPE_CHECKING:
    from engine.acceptance import CriteriaPlacement

# Jira counts the stored JSON; keep a margin under 32,767 for its own serialisation.
DESCRIPTION_BUDGET = JIRA_ADF_LIMIT - 767
DEFAULT_PRIORITIES = ["Highest", "High", "Medium", "Low", "Lowest"]

F_DESCRIPTION = "System.Description"
F_REPRO = "Microsoft.VSTS.TCM.ReproSteps"
F_SYSINFO = "Microsoft.VSTS.TCM.SystemInfo"
F_ACCEPTANCE = "Microsoft.VSTS.Common.AcceptanceCriteria"
F_PRIORITY = "Microsoft.VSTS.Common.Priority"
F_TAGS = "System.Tags"


class FieldRules(Protocol):
    """The field map and acceptance-criteria rules (``engine.fieldapply``) for one issue type.

    Handed in by the pipeline, so this module needs none of their imports.
    """

    def criteria(self, item: WorkItem, conv: ConvertContext) -> CriteriaPlacement | None:
        """Where the item's acceptance criteria go (None: it has none)."""

    def apply(self, item: WorkItem, out: IssueContent) -> None:
        """Fill the mapped fields the item holds; notes for what cannot be carried."""


def _nothing_awaited(item_id: int) -> bool:
    return False


@dataclass(kw_only=True)
class ContentContext:
    ado_web_url: str  # e.g. https://dev.azure.com/org/project
    jira_base_url: str
    # Where ADO attachments live (source.base_url); an image elsewhere stays a link.
    ado_origin: str = ""
    story_points_field: str | None = None
    priorities: list[str] = field(default_factory=lambda: list(DEFAULT_PRIORITIES))
    screen_fields: set[str]  # field ids on the target create screen
    users: Mapping[str, str] = field(default_factory=dict)  # lower-cased email → accountId
    crosswalk: Mapping[int, str] = field(default_factory=dict)  # ADO id → Jira key
    attachment_urls: Mapping[str, str] = field(default_factory=dict)  # guid → Jira content URL
    components: Mapping[str, str] = field(default_factory=dict)  # area path → component id
    area_as: Literal["component", "label"] = "label"
    sprints: Mapping[str, int] = field(default_factory=dict)  # iteration path → sprint id
    iteration_as: Literal["sprint", "label"] = "label"
    # Files not uploaded: bigger than ``upload_limit`` (None: no limit known), and what
    # the pipeline recorded as skipped (dicts with id, name, size, adoUrl).
    upload_limit: int | None = None
    skipped_files: Sequence[Mapping[str, Any]] = ()
    # ADO identity guid (lower-case) → e-mail, for @mentions of people not on the item.
    identity_emails: Mapping[str, str] = field(default_factory=dict)
    # Shared Steps item id → its Steps XML (engine.testcase_content.SharedSteps loads them).
    shared_steps: Mapping[int, str] = field(default_factory=dict)
    # The field map and acceptance criteria; None: criteria stay a description section.
    field_rules: FieldRules | None = None
    # ADO id → True while that item still waits for its Jira issue in this run (phase 2
    # is creating beside the content phase): a reference to it would lose its key.
    awaited: Callable[[int], bool] = field(default=_nothing_awaited)


@dataclass
class IssueContent:
    fields: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rules: set[str] = field(default_factory=set)
    inline_images: list[str] = field(default_factory=list)
    overflow_text: str | None = None
    # Items referenced whose Jira issue does not exist yet (see ContentContext.awaited).
    awaited_refs: set[int] = field(default_factory=set)


# --------------------------------------------------------------------------- small helpers
def account_for(identity: Identity | None, ctx: ContentContext) -> str | None:
    email = email_of(identity)
    return ctx.users.get(email) if email else None


def _html(item: WorkItem, name: str) -> str:
    value = item.fields.get(name)
    return value if isinstance(value, str) else ""


# --------------------------------------------------------------------------- conversion context
@dataclass
class _Tracker:
    """A ConvertContext for one item that records what the converter resolved."""

    ctx: ContentContext
    guid_emails: dict[str, str]
    rules: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    awaited: set[int] = field(default_factory=set)

    def convert_context(self) -> ConvertContext:
        return ConvertContext(
            image_url=self.image_url,
            mention=self.mention,
            work_item_ref=self.work_item_ref,
            jira_base_url=self.ctx.jira_base_url,
        )

    def image_url(self, src: str) -> str | None:
        guid = attachment_guid(src)
        if guid is None:
            return None  # not an ADO attachment: the converter keeps it as a link
        if self.ctx.ado_origin and not same_origin(src, self.ctx.ado_origin):
            self.rules.add("inline-image-not-fetched")
            return None  # shaped like one, on another host: never fetched, kept as a link
        url = self.ctx.attachment_urls.get(guid)
        self.rules.add("inline-image" if url else "inline-image-as-link")
        return url

    def mention(self, guid: str, name: str) -> dict[str, str] | None:
        email = self.guid_emails.get(guid) or self.ctx.identity_emails.get(guid, "").lower()
        account = self.ctx.users.get(email) if email else None
        if account:
            self.rules.add("mention")
            return {"id": account, "text": f"@{name}" if name else "@"}
        self.rules.add("mention-as-text")
        self._note(f"mention-as-text: @{name or guid} has no Jira account; kept as text")
        return None

    def work_item_ref(self, item_id: int) -> str | None:
        key = self.ctx.crosswalk.get(item_id)
        if key:
            self.rules.add("work-item-ref")
        elif self.ctx.awaited(item_id):
            self.awaited.add(item_id)
        return key

    def _note(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)


def tracker_for(ctx: ContentContext, identities: list[Identity | None]) -> _Tracker:
    guid_emails = {
        person.id.lower(): email
        for person in identities
        if person and person.id and (email := email_of(person))
    }
    return _Tracker(ctx, guid_emails)


# --------------------------------------------------------------------------- rule: description
def _section(title: str, html: str, conv: ConvertContext) -> list[Node]:
    blocks = html_to_blocks(html, ctx=conv)
    return [heading(title, 3), *blocks] if blocks else []


def description_body(
    item: WorkItem,
    conv: ConvertContext,
    *,
    full_title: str | None,
    with_system_info: bool,
    with_criteria: bool = True,
) -> tuple[list[Node], set[str]]:
    """The description's blocks before the migration panel, and the rules used.

    Bugs keep their text in ReproSteps (System.Description is usually empty), so
    repro steps follow the description, under a heading only when both exist.
    """
    blocks: list[Node] = []
    rules: set[str] = set()
    if full_title:
        blocks.append(paragraph([strong("Full title: "), text(full_title)]))
    description = html_to_blocks(_html(item, F_DESCRIPTION), ctx=conv)
    repro = html_to_blocks(_html(item, F_REPRO), ctx=conv)
    blocks += description
    if repro:
        rules.add("repro-steps")
        blocks += ([heading("Repro steps", 3)] if description else []) + repro
    sections = [("System info", F_SYSINFO, "system-info")] if with_system_info else []
    if with_criteria:
        sections.append(("Acceptance criteria", F_ACCEPTANCE, "acceptance-criteria"))
    for title, name, rule in sections:
        section = _section(title, _html(item, name), conv)
        if section:
            rules.add(rule)
            blocks += section
    return blocks, rules


def _panel_line(label: str, value: str | Node | None) -> list[Node]:
    if not value:
        return []
    shown = text(value) if isinstance(value, str) else value
    return [hard_break(), strong(f"{label}: "), shown]


def _size_text(size: Any) -> str:
    if not isinstance(size, int):
        return "size unknown"
    return f"{size / (1 << 20):.1f} MiB, {size:,} bytes" if size >= 1 << 20 else f"{size:,} bytes"


def files_not_uploaded(item: WorkItem, ctx: ContentContext) -> list[dict[str, Any]]:
    """Attachments that are not in Jira: over ``upload_limit`` or recorded as skipped."""
    out: dict[str, dict[str, Any]] = {}
    if ctx.upload_limit is not None:
        for att in item.attachments:
            if att.size is not None and att.size > ctx.upload_limit:
                out[att.id.lower()] = {
                    "name": att.name,
                    "size": att.size,
                    "adoUrl": att.url,
                    "reason": "larger than Jira's upload limit",
                }
    for skipped in ctx.skipped_files:
        key = str(skipped.get("id") or skipped.get("name")).lower()
        out.setdefault(
            key,
            {
                "name": str(skipped.get("name") or "file"),
                "size": skipped.get("size"),
                "adoUrl": skipped.get("adoUrl"),
                "reason": str(skipped.get("reason") or "not uploaded"),
            },
        )
    return list(out.values())


def _files_paragraph(files: Sequence[Mapping[str, Any]]) -> Node:
    inlines: list[Node] = [strong("Attachments not migrated to Jira:")]
    for f in files:
        name = one_line(str(f.get("name") or "")) or "file"
        why = one_line(str(f.get("reason") or "")) or "not uploaded"
        inlines += [hard_break(), text(f"{name} ({_size_text(f.get('size'))}; {why}) ")]
        url = str(f.get("adoUrl") or "")
        if url:
            inlines.append(link("open in Azure DevOps", url))
    return paragraph(tidy_inlines(inlines))


def migration_panel(item: WorkItem, ctx: ContentContext) -> Node:
    """A short info panel so nothing about the item's origin is lost."""
    web = f"{ctx.ado_web_url.rstrip('/')}/_workitems/edit/{item.id}"
    creator = identity_of(item.fields.get("System.CreatedBy"))
    assignee = identity_of(item.fields.get("System.AssignedTo"))
    lines = [
        strong("Migrated from Azure DevOps: "),
        link(one_line(f"{item.type} {item.id}") or str(item.id), web),
        *_panel_line("State", one_line(item.state)),
        *_panel_line("Created by", person_label(creator) if creator else None),
        *_panel_line("Created", format_date(item.fields.get("System.CreatedDate"))),
        *_panel_line("Assigned to", person_label(assignee) if assignee else None),
        *_panel_line("Changed", format_date(item.changed_date)),
        *_panel_line("Area path", one_line(item.area_path)),
        *_panel_line("Iteration path", one_line(item.iteration_path)),
    ]
    blocks = [paragraph(tidy_inlines(lines))]
    files = files_not_uploaded(item, ctx)
    if files:
        blocks.append(_files_paragraph(files))
    return panel(blocks, "info")


def overflow_file_name(item_id: int) -> str:
    """The file the pipeline attaches ``overflow_text`` as; the cut note names it."""
    return f"ado-{item_id}-description.txt"


def _block_size(block: Node) -> int:
    return adf_char_length({"b": block}) - len('{"b":}')  # the block's JSON, plus nothing


def fit_to_limit(
    body: list[Node], tail: list[Node], note: Node, budget: int = DESCRIPTION_BUDGET
) -> tuple[Node, bool]:
    """doc(body + tail), or, when too long, body cut at a block boundary + note + tail."""
    full = doc(*body, *tail)
    if adf_char_length(full) <= budget:
        return full, False
    size = adf_char_length(doc(note, *tail))
    kept: list[Node] = []
    for block in body:
        size += _block_size(block) + 1  # the comma before it
        if size > budget:
            break
        kept.append(block)
    return doc(*kept, note, *tail), True


def _cut_note(item_id: int) -> Node:
    message = (
        "The description was too long for Jira and was cut here. The full text is "
        f"attached as {overflow_file_name(item_id)}."
    )
    return panel([paragraph(message)], "warning")


# --------------------------------------------------------------------------- issue_content
def _put(out: IssueContent, ctx: ContentContext, field_id: str, value: Any, rule: str) -> None:
    """Set a field when the create screen has it; otherwise say what was not carried."""
    if field_id in ctx.screen_fields:
        out.fields[field_id] = value
        out.rules.add(rule)
    else:
        out.notes.append(f"{rule}: field '{field_id}' is not on the create screen; not set")


def _apply_summary(item: WorkItem, out: IssueContent) -> str | None:
    summary, cut = summary_text(item.title, item.id)
    out.fields["summary"] = summary
    out.rules.add("summary-cut" if cut else "summary")
    return one_line(item.title) if cut else None


def _apply_environment(
    item: WorkItem, ctx: ContentContext, out: IssueContent, conv: ConvertContext
) -> bool:
    """SystemInfo fills Jira's environment field when the screen has it (True when used)."""
    html = _html(item, F_SYSINFO)
    if not html.strip() or "environment" not in ctx.screen_fields:
        return False
    note = panel([paragraph("System info was too long for Jira and was cut here.")], "warning")
    document, _ = fit_to_limit(html_to_blocks(html, ctx=conv), [], note)
    _put(out, ctx, "environment", document, "environment")
    return True


def _apply_description(
    item: WorkItem,
    ctx: ContentContext,
    out: IssueContent,
    tracker: _Tracker,
    full_title: str | None,
) -> None:
    conv = tracker.convert_context()
    with_env = _apply_environment(item, ctx, out, conv)
    criteria = _apply_criteria(item, ctx, out, conv)
    if "description" not in ctx.screen_fields:
        out.notes.append("description: not on the create screen; the item's text is not carried")
        return
    body, rules = description_body(
        item,
        conv,
        full_title=full_title,
        with_system_info=not with_env,
        with_criteria=ctx.field_rules is None,
    )
    case = case_section(item, ctx.shared_steps)  # test steps and parameters, if any
    body, rules = body + case.blocks, rules | case.rules
    out.notes += case.notes
    # Criteria kept in the description sit in the tail, which the cut never takes.
    kept = criteria.blocks if criteria is not None and criteria.field_id is None else []
    tail = [*kept, migration_panel(item, ctx)]
    document, cut = fit_to_limit(body, tail, _cut_note(item.id))
    _put(out, ctx, "description", document, "description")
    out.rules |= rules | {"migration-panel"}
    files = files_not_uploaded(item, ctx)
    if files:
        out.rules.add("attachment-listed-not-uploaded")
        names = ", ".join(str(f["name"]) for f in files)
        out.notes.append(
            f"attachment-listed-not-uploaded: {names} not uploaded to Jira; "
            "listed on the issue with a link to Azure DevOps"
        )
    if cut:
        out.rules.add("description-cut")
        out.notes.append(
            f"description cut to fit Jira's limit; full text in {overflow_file_name(item.id)}"
        )
        out.overflow_text = adf_to_text(doc(*body))


def _apply_criteria(
    item: WorkItem, ctx: ContentContext, out: IssueContent, conv: ConvertContext
) -> CriteriaPlacement | None:
    """Acceptance criteria into their Jira field, or placed for the description's tail."""
    placement = ctx.field_rules.criteria(item, conv) if ctx.field_rules is not None else None
    if placement is None:
        return None
    if placement.field_id:
        out.fields[placement.field_id] = placement.value
        rule = "acceptance-field"
    elif "description" in ctx.screen_fields:
        rule = "acceptance-description"
    else:
        out.notes.append("acceptance-description: no description on the create screen; not carried")
        return placement
    out.rules.add(rule)
    if placement.cut:
        out.notes.append(f"{rule}: the acceptance criteria were too long and were cut")
    return placement


def _apply_priority(item: WorkItem, ctx: ContentContext, out: IssueContent) -> None:
    raw = item.fields.get(F_PRIORITY)
    if raw is None:
        return
    name = priority_name(raw, ctx.priorities)
    if name is None:
        out.notes.append(f"priority: ADO priority {raw!r} has no Jira equivalent; not set")
        return
    _put(out, ctx, "priority", {"name": name}, "priority")


def _apply_story_points(item: WorkItem, ctx: ContentContext, out: IssueContent) -> None:
    found = story_points(item.fields)
    if found is None:
        return
    value, source = found
    if not ctx.story_points_field:
        out.notes.append(f"story-points: {source}={value} not carried (no story points field)")
        return
    _put(out, ctx, ctx.story_points_field, value, "story-points")
    if source != POINTS_SOURCES[0]:
        out.rules.add(f"story-points-from-{source.rsplit('.', 1)[-1]}")


def _iteration_labels(item: WorkItem, ctx: ContentContext, out: IssueContent) -> list[str]:
    path = item.iteration_path.strip()
    if not below_root(path):
        return []  # the project root: not scheduled
    if ctx.iteration_as == "sprint" and path in ctx.sprints:
        out.rules.add("iteration-sprint")  # the pipeline moves the issue into the sprint
        return []
    label = iteration_label(path)
    out.rules.add("iteration-label")
    if ctx.iteration_as == "sprint":
        out.notes.append(
            f"iteration-label: iteration '{path}' has no open sprint; carried as a label"
        )
    return [label] if label else []


def _apply_labels_and_area(item: WorkItem, ctx: ContentContext, out: IssueContent) -> None:
    labels = [*tag_labels(item.fields.get(F_TAGS)), migration_label(item.id)]
    component = ctx.components.get(item.area_path) if ctx.area_as == "component" else None
    if component and "components" in ctx.screen_fields:
        _put(out, ctx, "components", [{"id": component}], "area-component")
    elif ctx.area_as == "component" and not below_root(item.area_path):
        pass  # the project root: no component, and the panel names the area
    elif item.area_path.strip():
        label = area_label(item.area_path)
        labels += [label] if label else []
        out.rules.add("area-label")
        if ctx.area_as == "component":
            out.notes.append(
                f"area-label: area '{item.area_path}' has no component; carried as a label"
            )
    labels += _iteration_labels(item, ctx, out)
    if item.fields.get(F_TAGS):
        out.rules.add("tags")
    _put(out, ctx, "labels", list(dict.fromkeys(labels)), "labels")


def _apply_person(
    out: IssueContent, ctx: ContentContext, field_id: str, who: Identity | None
) -> None:
    if who is None:
        return
    account = account_for(who, ctx)
    if account:
        _put(out, ctx, field_id, {"accountId": account}, field_id)
    else:
        out.rules.add(f"{field_id}-unmapped")
        out.notes.append(f"{field_id}: {person_label(who)} has no Jira account; named in the panel")


def issue_content(item: WorkItem, ctx: ContentContext) -> IssueContent:
    """The Jira create fields for a work item, with notes on what could not be carried."""
    out = IssueContent()
    assignee = identity_of(item.fields.get("System.AssignedTo"))
    creator = identity_of(item.fields.get("System.CreatedBy"))
    tracker = tracker_for(ctx, [assignee, creator])
    full_title = _apply_summary(item, out)
    _apply_description(item, ctx, out, tracker, full_title)
    _apply_priority(item, ctx, out)
    _apply_story_points(item, ctx, out)
    _apply_labels_and_area(item, ctx, out)
    _apply_person(out, ctx, "assignee", assignee)
    _apply_person(out, ctx, "reporter", creator)
    if ctx.field_rules is not None:
        ctx.field_rules.apply(item, out)
    out.rules |= tracker.rules
    out.notes += tracker.notes
    out.awaited_refs |= tracker.awaited
    # Field by field, as each is converted (and so each parse is shared with the converter).
    found = (
        guid
        for name in (F_DESCRIPTION, F_REPRO, F_SYSINFO, F_ACCEPTANCE)
        for guid in inline_attachment_ids(_html(item, name))
    )
    out.inline_images = list(dict.fromkeys(found))
    return out


def inline_attachment_ids(html: str) -> list[str]:
    """ADO attachment GUIDs (lower-case, first-seen order) referenced by <img src>."""
    guids = (attachment_guid(src) for src in image_sources(html))
    return list(dict.fromkeys(guid for guid in guids if guid))


def user_emails(item: PlanningItem) -> set[str]:
    """Lower-cased e-mails of the people on the item (assignee, creator) for the preflight."""
    people = (
        identity_of(item.fields.get(name)) for name in ("System.AssignedTo", "System.CreatedBy")
    )
    return {email for person in people if (email := email_of(person))}
