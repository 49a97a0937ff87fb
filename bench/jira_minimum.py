"""The fewest Jira calls a migration's end state allows, and the time Jira's limits allow.

Pure arithmetic on plain facts (no HTTP): :mod:`bench.jira_limits` reads the facts
from the Jira sandbox after a run, the tests hand-make them.

The minimum counts, from the final state alone, the writes no migrator can avoid:

- **bulk creates**: a parent must exist before its child's create names it, so the
  issues at each depth of the parent chain (no parent: depth 0) go in bulk creates
  of ``bulk_create_size`` (50): ``sum over depths of ceil(issues at depth / 50)``.
- **transitions**: each issue walks the shortest path of its workflow from the
  initial status to its final one (breadth first, ties to the workflow's first
  transition, so every issue reaching a status arrives the same way). The first
  step rides in the create request (``transition`` in the create body). Each later
  step falls in a group (workflow, from status, transition); with bulk transitions
  (the global bulk change permission) a group of ``n`` issues takes
  ``ceil(n / 1000)`` requests, and each request one poll of its task
  (``GET /bulk/queue/{taskId}``) to learn that it finished; without, one request per
  step. Taking the groups in order of their from-status's distance from the
  initial status is a schedule that works, since distances grow along every
  shortest path. (The spec lets one request carry several groups up to 1,000
  issues in all; the brief counts a group per request, and so does this.)
- **comments**: one request per comment (there is no bulk comment endpoint).
- **uploads**: one request per issue with files (several ``file`` parts a request,
  at most ``files_per_upload``).
- **description edits**: one per issue whose description shows a file uploaded to
  Jira (the attachment's id exists only after the upload, which needs the issue) or
  names an issue numbered at or after its own (that key did not exist when this
  issue was created).
- **links** (each issue link once, though both ends show it) and **remote links**:
  one request each (no bulk endpoint).
- **components** and **sprints** the run created: one request each; an issue goes
  into its sprint on create where the Sprint field is on its type's create screen,
  otherwise by a sprint move of up to 50 issues per sprint; a sprint is created as
  a future one, so an active sprint took one update (start) and a closed one two
  (start, complete).

Metadata reads (site, project, fields, users...) are not derived: the run's own are
counted as they were, separately.

The time bound: each endpoint's bucket lets ``rate`` calls a second through, so an
endpoint that admitted ``n`` calls needs at least ``n / rate`` seconds; the run needs
at least the busiest endpoint's. Per-issue write windows (``limit`` writes per
``seconds``) make an issue with ``w`` writes need ``(ceil(w / limit) - 1) * seconds``;
that bound is reported beside it.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from sandbox.jira_workflow import Transition, Workflow

BULK_CREATE_SIZE = 50
BULK_TRANSITION_SIZE = 1000
SPRINT_MOVE_SIZE = 50
FILES_PER_UPLOAD = 60


@dataclass(frozen=True)
class IssueFacts:
    """One issue of the final state, as far as the minimum needs it."""

    id: str
    number: int  # the number in its key
    issue_type: str  # name
    status_id: str
    parent_id: str | None = None
    comments: int = 0
    files: int = 0
    links: int = 0  # issue links with this issue at one end
    remote_links: int = 0
    sprint: int | None = None
    description_needs_edit: bool = False


@dataclass(frozen=True)
class SiteFacts:
    """The final state: issues the run created, unique links, what else it created."""

    issues: tuple[IssueFacts, ...]
    links: int = 0
    components_created: int = 0
    sprint_states: Mapping[int, str] = field(default_factory=dict)  # created by the run


@dataclass(frozen=True)
class Rules:
    """What the site allows: workflows and create screens per issue type, batch sizes."""

    workflows: Mapping[str, Workflow]  # issue type name -> workflow
    sprint_on_create: frozenset[str] = frozenset()  # types with Sprint on the create screen
    bulk_transitions: bool = True  # the account has the global bulk change permission
    bulk_create_size: int = BULK_CREATE_SIZE
    bulk_transition_size: int = BULK_TRANSITION_SIZE
    sprint_move_size: int = SPRINT_MOVE_SIZE
    files_per_upload: int = FILES_PER_UPLOAD


@dataclass(frozen=True)
class Minimum:
    """The fewest write requests, by kind (metadata reads are counted apart)."""

    bulk_creates: int = 0
    transitions_beyond_create: int = 0
    bulk_transition_polls: int = 0
    comments: int = 0
    uploads: int = 0
    description_edits: int = 0
    links: int = 0
    remote_links: int = 0
    components_created: int = 0
    sprints_created: int = 0
    sprint_moves: int = 0
    sprint_start_and_complete: int = 0
    unreachable_statuses: int = 0  # issues whose status no path reaches (counted as 0)

    @property
    def writes(self) -> int:
        return sum(v for k, v in asdict(self).items() if k != "unreachable_statuses")


def shortest_path(flow: Workflow, target: str) -> list[tuple[str, Transition]] | None:
    """``[(from status, transition), ...]`` from ``flow.initial`` to ``target``.

    None when no path reaches ``target``.
    """
    came: dict[str, tuple[str, Transition] | None] = {flow.initial: None}
    queue = deque([flow.initial])
    while queue:
        cur = queue.popleft()
        for t in flow.available(cur):
            if t.to not in came:
                came[t.to] = (cur, t)
                queue.append(t.to)
    if target not in came:
        return None
    path: list[tuple[str, Transition]] = []
    step = came[target]
    while step is not None:
        path.append(step)
        step = came[step[0]]
    return path[::-1]


def _depths(issues: Sequence[IssueFacts]) -> Counter[int]:
    by_id = {i.id: i for i in issues}
    memo: dict[str, int] = {}

    def depth(issue: IssueFacts, seen: frozenset[str] = frozenset()) -> int:
        if issue.id not in memo:
            parent = by_id.get(issue.parent_id or "")
            if parent is None or parent.id in seen:
                memo[issue.id] = 0
            else:
                memo[issue.id] = depth(parent, seen | {issue.id}) + 1
        return memo[issue.id]

    return Counter(depth(i) for i in issues)


def transition_requests(issues: Iterable[IssueFacts], rules: Rules) -> tuple[int, int, int]:
    """(requests beyond create, bulk task polls, issues with an unreachable status)."""
    groups: Counter[tuple[str, str, str]] = Counter()
    unreachable = 0
    for issue in issues:
        flow = rules.workflows.get(issue.issue_type)
        path = shortest_path(flow, issue.status_id) if flow is not None else None
        if path is None:
            unreachable += 1
            continue
        for source, t in path[1:]:  # the first step rides in the create request
            groups[(flow.name if flow else "", source, t.id)] += 1
    if not rules.bulk_transitions:
        return sum(groups.values()), 0, unreachable
    requests = sum(math.ceil(n / rules.bulk_transition_size) for n in groups.values())
    return requests, requests, unreachable


def _sprint_writes(facts: SiteFacts, rules: Rules) -> tuple[int, int]:
    """(sprint moves, sprint start and complete updates)."""
    to_move: Counter[int] = Counter(
        i.sprint
        for i in facts.issues
        if i.sprint is not None and i.issue_type not in rules.sprint_on_create
    )
    moves = sum(math.ceil(n / rules.sprint_move_size) for n in to_move.values())
    updates = {"active": 1, "closed": 2}
    return moves, sum(updates.get(s, 0) for s in facts.sprint_states.values())


def minimum(facts: SiteFacts, rules: Rules) -> Minimum:
    transitions, polls, unreachable = transition_requests(facts.issues, rules)
    moves, sprint_updates = _sprint_writes(facts, rules)
    per_upload = max(1, rules.files_per_upload)
    return Minimum(
        bulk_creates=sum(
            math.ceil(n / rules.bulk_create_size) for n in _depths(facts.issues).values()
        ),
        transitions_beyond_create=transitions,
        bulk_transition_polls=polls,
        comments=sum(i.comments for i in facts.issues),
        uploads=sum(math.ceil(i.files / per_upload) for i in facts.issues if i.files),
        description_edits=sum(1 for i in facts.issues if i.description_needs_edit),
        links=facts.links,
        remote_links=sum(i.remote_links for i in facts.issues),
        components_created=facts.components_created,
        sprints_created=len(facts.sprint_states),
        sprint_moves=moves,
        sprint_start_and_complete=sprint_updates,
        unreachable_statuses=unreachable,
    )


# --------------------------------------------------------------------------- time bounds
@dataclass(frozen=True)
class EndpointBound:
    endpoint: str  # "METHOD /route/template"
    admitted: int  # calls answered other than 429 (each took a token)
    rate: float  # calls per second the limit lets through
    seconds: float


def endpoint_bounds(
    admitted: Mapping[str, int],
    rates: Mapping[str, float],
    route_rates: Mapping[str, float] | None = None,
) -> list[EndpointBound]:
    """Each endpoint's ``admitted / rate``, busiest first; ``rates`` per method,
    ``route_rates`` per endpoint (wins)."""
    out = []
    for endpoint, n in admitted.items():
        method = endpoint.split(" ", 1)[0]
        rate = (route_rates or {}).get(endpoint) or rates.get(method)
        if rate and n:
            out.append(EndpointBound(endpoint, n, rate, n / rate))
    return sorted(out, key=lambda b: (-b.seconds, b.endpoint))


def issue_writes(issue: IssueFacts, rules: Rules) -> int:
    """The fewest writes that name this issue (the create does not: it has no key yet)."""
    own_steps = 0
    if not rules.bulk_transitions:
        flow = rules.workflows.get(issue.issue_type)
        path = shortest_path(flow, issue.status_id) if flow is not None else None
        own_steps = max(0, len(path or ()) - 1)
    uploads = math.ceil(issue.files / max(1, rules.files_per_upload))
    return (
        own_steps
        + issue.comments
        + uploads
        + int(issue.description_needs_edit)
        + issue.links
        + issue.remote_links
    )


def per_issue_bound(
    issues: Iterable[IssueFacts], rules: Rules, windows: Sequence[tuple[int, float]]
) -> tuple[float, str | None]:
    """(seconds, issue id): the busiest issue's writes spread over its write windows."""
    best, who = 0.0, None
    for issue in issues:
        w = issue_writes(issue, rules)
        for limit, seconds in windows:
            need = max(0, math.ceil(w / limit) - 1) * seconds
            if need > best:
                best, who = need, issue.id
    return best, who
