"""A deterministic, lazily rendered Azure DevOps Boards project (Agile process).

``generate(items, seed)`` plans the whole project at once into compact arrays
(type, parent, area, iteration, state, dates): about a second and a few MB at
100,000 items. Everything bulky (fields, HTML, comments, attachment bytes) is
rendered on demand from a per-item random generator, so the same seed always
gives the same data and nothing large sits in memory.

Attachment and inline-image GUIDs encode their owner (item id, index) so that
``attachment(guid)`` needs no lookup table, and attachment bytes are produced
chunk by chunk (the oversized file is never held in memory).

This module is the :class:`Dataset` facade; the plan, the rendering of content
and of files, the process, people and value shapes each have a
``sandbox/dataset_*`` module, whose public names are re-exported here.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import timedelta

from sandbox import dataset_steps, dataset_text
from sandbox.dataset_artifacts import ArtifactCatalog, artifact_relations
from sandbox.dataset_files import BIG_FILE_SIZE, CHUNK, AttachmentFiles
from sandbox.dataset_history import extra_revisions
from sandbox.dataset_nodes import area_nodes, iteration_nodes
from sandbox.dataset_people import identity_ref, make_people, mention_html
from sandbox.dataset_plan import ProjectPlan
from sandbox.dataset_process import (
    BUG,
    EPIC,
    FEATURE,
    HIERARCHY_FORWARD,
    HIERARCHY_REVERSE,
    ISSUE,
    LINK_NAMES,
    LINK_TYPES,
    REASONS,
    RISK,
    SHARED_STEPS,
    STORY,
    TASK,
    TEST_CASE,
    TYPE_INDEX,
    TYPES,
    StateDef,
    TypeDef,
)
from sandbox.dataset_records import (
    DATASET_NOW,
    EPOCH,
    AttachmentInfo,
    CommentRecord,
    ItemRecord,
    Node,
    iso,
)
from sandbox.dataset_words import slug

__all__ = [
    "BIG_FILE_SIZE",
    "BUG",
    "CHUNK",
    "DATASET_NOW",
    "EPIC",
    "EPOCH",
    "FEATURE",
    "HIERARCHY_FORWARD",
    "HIERARCHY_REVERSE",
    "ISSUE",
    "LINK_TYPES",
    "REASONS",
    "RISK",
    "SHARED_STEPS",
    "STORY",
    "TASK",
    "TEST_CASE",
    "TYPES",
    "TYPE_INDEX",
    "AttachmentInfo",
    "CommentRecord",
    "Dataset",
    "ItemRecord",
    "Node",
    "StateDef",
    "TypeDef",
    "generate",
    "identity_ref",
    "iso",
    "make_people",
    "mention_html",
]


class Dataset:
    """A whole ADO project. Cheap arrays hold the plan; everything else renders lazily."""

    def __init__(
        self, items: int, seed: int, org: str = "fabrikam", project: str = "Fabrikam Fiber"
    ) -> None:
        if not 1 <= items <= 1_000_000:
            raise ValueError("items must be between 1 and 1,000,000")
        self.count, self.seed, self.org, self.project = items, seed, org, project
        self.project_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"ado:{org}/{project}/{seed}"))
        self.people = make_people(seed)
        self.areas = area_nodes(project)
        self.iterations = iteration_nodes(project)
        self.files = AttachmentFiles(self)
        self.artifacts = ArtifactCatalog(self.project_id, seed, project)
        plan = ProjectPlan(items, seed, self.areas)
        # The plan's arrays are read directly: the cheap accessors below are what
        # WIQL runs over every item of a 100,000-item project.
        self.type_of, self.parent_of = plan.type_of, plan.parent_of
        self.area_of, self.iteration_of, self.state_of = (
            plan.area_of,
            plan.iteration_of,
            plan.state_of,
        )
        self.created_min, self.changed_min = plan.created_min, plan.changed_min
        self._children, self._links = plan.children, plan.links
        self.roles = plan.roles
        self.shared_steps_ids = plan.shared_steps

    # ------------------------------------------------------------------ cheap accessors
    def ids(self) -> range:
        return range(1, self.count + 1)

    def type_name(self, ident: int) -> str:
        return TYPES[self.type_of[ident]].name

    def state_name(self, ident: int) -> str:
        return TYPES[self.type_of[ident]].states[self.state_of[ident]].name

    def area_path(self, ident: int) -> str:
        return self.areas[self.area_of[ident]].path

    def iteration_path(self, ident: int) -> str:
        return self.iterations[self.iteration_of[ident]].path

    def created_date(self, ident: int) -> str:
        return iso(EPOCH + timedelta(minutes=self.created_min[ident], milliseconds=ident % 997))

    def changed_date(self, ident: int) -> str:
        return iso(EPOCH + timedelta(minutes=self.changed_min[ident], milliseconds=ident % 991))

    def parent(self, ident: int) -> int:
        return int(self.parent_of[ident])

    def children(self, ident: int) -> list[int]:
        return list(self._children.get(ident, ()))

    def links(self, ident: int) -> list[tuple[str, int]]:
        return [
            (LINK_TYPES[code // 2][code % 2], target) for code, target in self._links.get(ident, ())
        ]

    # ------------------------------------------------------------------ rendering
    def item_rng(self, ident: int, salt: int = 0) -> random.Random:
        """The generator one item's content of one kind (``salt``) is drawn from."""
        return random.Random(self.seed * 1_000_003 + ident * 31 + salt)

    def item(self, ident: int, base_url: str = "https://dev.azure.com") -> ItemRecord:
        """The full work item (fields, links, attachments); HTML URLs point at ``base_url``."""
        if not 1 <= ident <= self.count:
            raise KeyError(ident)
        rng = self.item_rng(ident)
        kind = self.type_of[ident]
        fields = dataset_text.system_fields(self, ident, rng, base_url)
        fields.update(dataset_text.type_fields(self, ident, kind, rng, base_url))
        fields.update(dataset_steps.tcm_fields(self, ident))
        fields["System.Rev"] += extra_revisions(self.count, ident)
        rec = ItemRecord(
            ident, TYPES[kind].name, {k: v for k, v in fields.items() if v is not None}
        )
        parent = self.parent(ident)
        if parent:
            rec.links.append((HIERARCHY_REVERSE, parent, {"isLocked": False, "name": "Parent"}))
        for child in self.children(ident):
            rec.links.append((HIERARCHY_FORWARD, child, {"isLocked": False, "name": "Child"}))
        for rel, target in self.links(ident):
            rec.links.append((rel, target, {"isLocked": False, "name": LINK_NAMES[rel]}))
        if rng.random() < 0.1 or ident == self.roles.get("story"):
            rec.hyperlinks.append((f"https://wiki.fabrikam.example/{slug(rng)}", "Design notes"))
        rec.attachments = self.attachments_of(ident)
        rec.other_relations = artifact_relations(
            self.artifacts, ident, self.created_date(ident), self.count
        )
        return rec

    def description_html(self, ident: int, base_url: str = "https://dev.azure.com") -> str:
        """Rich text as the ADO editor stores it; role items carry every construct at once."""
        return dataset_text.description_html(self, ident, base_url)

    def comments_for(self, ident: int) -> list[CommentRecord]:
        """Oldest first. Ids are ``item * 100 + n`` so they never collide across items."""
        return dataset_text.comments_for(self, ident)

    # ------------------------------------------------------------------ attachments
    def attachments_of(self, ident: int) -> list[AttachmentInfo]:
        return self.files.attachments_of(ident)

    def inline_images(self, ident: int) -> list[AttachmentInfo]:
        return self.files.inline_images(ident)

    def attachment_info(self, guid: str) -> AttachmentInfo | None:
        return self.files.attachment_info(guid)

    def attachment(self, guid: str) -> tuple[str, int, Iterator[bytes]]:
        """``(name, size, chunks)``; the chunks are generated as they are read."""
        return self.files.attachment(guid)

    def checksum(self, guid: str) -> str:
        """sha256 hex of an attachment's bytes (computed by streaming, then cached)."""
        return self.files.checksum(guid)


def generate(
    items: int = 60, seed: int = 1, org: str = "fabrikam", project: str = "Fabrikam Fiber"
) -> Dataset:
    """A project of ``items`` work items (20 or more holds every edge case)."""
    return Dataset(items, seed, org, project)
