"""Planning a generated project: every item's type, parent, area, iteration, state
and dates in compact arrays, the role items that carry the edge cases, and the
non-hierarchy links. One pass with a seeded generator, so a seed always gives
the same plan.
"""

from __future__ import annotations

import random
from array import array
from typing import Any

from sandbox.dataset_process import (
    AFFECTS,
    BUG,
    EPIC,
    FEATURE,
    IMPLEMENTS,
    ISSUE,
    LINK_TYPES,
    RANDOM_LINK_KINDS,
    RISK,
    SHARED_STEPS,
    STORY,
    TASK,
    TEST_CASE,
    TYPES,
    index_of,
)
from sandbox.dataset_records import DATASET_NOW, EPOCH, Node

TESTED_BY = "Microsoft.VSTS.Common.TestedBy-Forward"


class ProjectPlan:
    """The arrays (indexed by item id) and the link table of ``count`` items."""

    def __init__(self, count: int, seed: int, areas: list[Node]) -> None:
        self.count, self.seed, self.areas = count, seed, areas
        self._plan()
        self.roles = self._pick_roles()
        self._plan_links()
        self._plan_tested_by()

    def _plan(self) -> None:
        """Ids in creation order: each Epic, then its Features, Stories, Tasks and Bugs."""
        n, rng = self.count, random.Random(self.seed)
        self.type_of = bytearray(n + 1)
        self.parent_of = array("i", bytes(4 * (n + 1)))
        self.area_of = bytearray(n + 1)
        self.iteration_of = bytearray(n + 1)
        self.state_of = bytearray(n + 1)
        self.created_min = array("i", bytes(4 * (n + 1)))  # minutes after EPOCH
        self.changed_min = array("i", bytes(4 * (n + 1)))
        self.children: dict[int, list[int]] = {}
        self.shared_steps: list[int] = []  # Shared Steps ids, ascending
        self.tested: array[int] = array("i")  # (item, test case) pairs, flat
        self._tests_rng = random.Random(self.seed * 7 + 3)  # the test types' own draws
        span = int((DATASET_NOW - EPOCH).total_seconds() // 60) - 60 * 24 * 30
        state = {"next": 1}

        def emit(kind: int, parent: int, area: int, rng: random.Random = rng) -> int:
            ident = state["next"]
            if ident > n:
                return 0
            state["next"] = ident + 1
            self.type_of[ident], self.parent_of[ident], self.area_of[ident] = kind, parent, area
            if parent:
                self.children.setdefault(parent, []).append(ident)
            created = span * (ident - 1) // max(n, 1) + rng.randrange(60)
            self.created_min[ident] = created
            # At least an hour between creation and last change leaves room for comments.
            self.changed_min[ident] = created + 60 + rng.randrange(60 * 24 * 20)
            sprint = min(12, 1 + created * 12 // span)
            backlog = rng.random() < 0.05  # some items never got scheduled
            self.iteration_of[ident] = 0 if backlog else sprint + (sprint - 1) // 4 + 1
            self.state_of[ident] = self._pick_state(kind, rng)
            return ident

        while state["next"] <= n:
            self._plan_epic(rng, emit)

    def _plan_epic(self, rng: random.Random, emit: Any) -> None:
        area = rng.choice((1, 2, 3, 4, 5, 6, 7, 8))
        epic = emit(EPIC, 0, area)
        tests = self._tests_rng
        if not self.shared_steps or tests.random() < 0.7:
            shared = emit(SHARED_STEPS, 0, area, tests)
            self.shared_steps += [shared] if shared else []
        for _ in range(rng.randint(2, 4)):
            # One child in ten lives in another area: an area filter cuts such links.
            f_area = area if rng.random() > 0.1 else rng.randrange(1, 9)
            feature = emit(FEATURE, epic, f_area)
            stories: list[int] = []
            for _ in range(rng.randint(2, 5)):
                backlog_bug = rng.random() < 0.15  # a bug tracked at backlog level
                story = emit(BUG if backlog_bug else STORY, feature, f_area)
                stories += [story] if story else []
                for _ in range(rng.choice((0, 1, 2, 2, 3, 4))):
                    bug = not backlog_bug and rng.random() < 0.2
                    emit(BUG if bug else TASK, story, f_area)
            if stories and tests.random() < 0.75:
                self._plan_test_case(tests, emit, f_area, stories)
            if rng.random() < 0.3:
                emit(ISSUE, 0, f_area)
        if rng.random() < 0.5:
            emit(RISK, epic if rng.random() < 0.5 else 0, area)

    def _plan_test_case(self, rng: random.Random, emit: Any, area: int, stories: list[int]) -> None:
        """A test case (no parent: test cases sit outside the backlog) for some stories.

        The test types draw from their own generator, so the rest of the plan is what
        it was before they existed (only the ids after them move on)."""
        case = emit(TEST_CASE, 0, area, rng)
        for story in rng.sample(stories, min(len(stories), rng.randint(1, 2))) if case else ():
            self.tested.extend((story, case))

    @staticmethod
    def _pick_state(kind: int, rng: random.Random) -> int:
        states = TYPES[kind].states
        weights = {
            "New": 30,
            "Active": 30,
            "Resolved": 12,
            "Mitigated": 12,
            "Closed": 24,
            "Removed": 4,
            "Design": 30,
            "Ready": 30,
        }
        return rng.choices(range(len(states)), [weights[s.name] for s in states])[0]

    def _first_of(self, kind: int, after: int = 0) -> int:
        for ident in range(after + 1, self.count + 1):
            if self.type_of[ident] == kind:
                return ident
        return 0

    def _pick_roles(self) -> dict[str, int]:
        """Items that carry the edge cases every dataset must contain (ids are stable per seed)."""
        story = self._first_of(STORY)
        roles = {
            "epic": self._first_of(EPIC),
            "feature": self._first_of(FEATURE),
            "story": story,
            "task": self._first_of(TASK),
            "bug": self._first_of(BUG),
            "issue": self._first_of(ISSUE),
            "risk": self._first_of(RISK),
            "story2": self._first_of(STORY, story),
            "test_case": self._first_of(TEST_CASE),
            "shared_steps": self._first_of(SHARED_STEPS),
        }
        roles = {k: v for k, v in roles.items() if v}
        # Forced states so that small datasets still hold Removed and Resolved items.
        if "task" in roles:
            self.state_of[roles["task"]] = index_of(TASK, "Removed")
        if "story2" in roles:
            self.state_of[roles["story2"]] = index_of(STORY, "Resolved")
        if "bug" in roles:
            self.state_of[roles["bug"]] = index_of(BUG, "Active")
        return roles

    def _plan_links(self) -> None:
        """Non-hierarchy work item links, stored on both ends."""
        rng = random.Random(self.seed + 7)
        self.links: dict[int, list[tuple[int, int]]] = {}  # id -> [(rel code, target)]
        for ident in range(2, self.count + 1):
            if rng.random() < 0.08:
                self._add_link(rng.randrange(RANDOM_LINK_KINDS), ident, rng.randrange(1, ident))
        self._force_links()
        self._plan_new_kinds()

    def _plan_new_kinds(self) -> None:
        """Affects (bug affects story) and Implements (task implements story) links:
        one pair in about 40 items, at least three pairs when the types exist."""
        rng = random.Random(self.seed + 11)
        kinds = list(self.type_of)
        bugs = [i for i in range(1, self.count + 1) if kinds[i] == BUG]
        tasks = [i for i in range(1, self.count + 1) if kinds[i] == TASK]
        stories = [i for i in range(1, self.count + 1) if kinds[i] == STORY]
        pairs = max(3, self.count // 40)
        for code, sources in ((AFFECTS, bugs), (IMPLEMENTS, tasks)):
            if not sources or not stories:
                continue
            for source in rng.sample(sources, min(pairs, len(sources))):
                self._add_link(code, source, rng.choice(stories))

    def _force_links(self) -> None:
        """One link of each kind among the role items, one of them across areas."""
        r = self.roles
        wanted = [
            (0, "story", "bug"),
            (1, "feature", "story2"),
            (2, "bug", "story"),
            (3, "story", "task"),
            (0, "epic", "issue"),
        ]
        for code, a, b in wanted:
            if a in r and b in r and (code, r[b]) not in self.links.get(r[a], []):
                self._add_link(code, r[a], r[b])
        far = self._item_in_other_top_area(r.get("story", 0))
        if far:
            self._add_link(0, r["story"], far)

    def _plan_tested_by(self) -> None:
        """ "Tested By" from stories and bugs to the test cases planned for them."""
        code = next(i for i, (fwd, _) in enumerate(LINK_TYPES) if fwd == TESTED_BY)
        for n in range(0, len(self.tested), 2):
            item, case = self.tested[n], self.tested[n + 1]
            if (code * 2, case) not in self.links.get(item, []):
                self._add_link(code, item, case)

    def _item_in_other_top_area(self, ident: int) -> int:
        if not ident:
            return 0
        top = self._top_area(self.area_of[ident])
        for other in range(self.count, 0, -1):
            if self._top_area(self.area_of[other]) != top and other != ident:
                return other
        return 0

    def _top_area(self, idx: int) -> int:
        node = self.areas[idx]
        while node.parent is not None and node.parent != self.areas[0].id:
            node = self.areas[node.parent - self.areas[0].id]
        return node.id

    def _add_link(self, code: int, source: int, target: int) -> None:
        if source == target:
            return
        self.links.setdefault(source, []).append((code * 2, target))
        self.links.setdefault(target, []).append((code * 2 + 1, source))
