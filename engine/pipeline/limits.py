"""Tunables of the pipeline and the fixed keys it writes to Jira."""

PROPERTY_KEY = "ado.migration"
COMMENT_PROPERTY = "ado.comment"
BULK_SIZE = 50
SEARCH_CHUNK = 100
ADO_BATCH = 200
CREATE_WINDOW = 4  # bulk requests in flight within a hierarchy level
ITEM_WORKERS = 12  # per-item writers in phases 2 (edits) to 5; the Jira limiter bounds the rate
CHECKPOINT_ITEMS = 50
CHECKPOINT_SECONDS = 1.0
POLL_SECONDS = 0.25
WRITE_TRIES = 3
# A write whose outcome stays unknown this many settle rounds fails its item: a Jira
# that answers a request with a gateway error every time is not settling.
AMBIGUOUS_ROUNDS = 6
DRY_RUN_SAMPLES = 5
OVERFLOW_KEY = "overflow:description"
# Small files of one item go up together: at most this many, and this many bytes, a request.
UPLOAD_GROUP_FILES = 10
UPLOAD_GROUP_BYTES = 4 << 20
WRITE_PHASES = (2, 3, 4, 5)
ESSENTIAL_FIELDS = {"summary", "project", "issuetype", "labels", "parent"}
# Required create-screen fields the content rules or the pipeline can fill.
FILLABLE = {
    "summary",
    "issuetype",
    "project",
    "description",
    "labels",
    "priority",
    "reporter",
    "assignee",
    "parent",
    "components",
    "environment",
}
HIERARCHY_REVERSE = "System.LinkTypes.Hierarchy-Reverse"
HIERARCHY_FORWARD = "System.LinkTypes.Hierarchy-Forward"
# ADO relation -> (Jira link type, this item is the outward side, symmetric)
LINK_RULES: dict[str, tuple[str, bool, bool]] = {
    "System.LinkTypes.Related": ("Relates", True, True),
    "System.LinkTypes.Dependency-Forward": ("Blocks", True, False),
    "System.LinkTypes.Dependency-Reverse": ("Blocks", False, False),
    "System.LinkTypes.Duplicate-Forward": ("Duplicate", False, False),
    "System.LinkTypes.Duplicate-Reverse": ("Duplicate", True, False),
    "Microsoft.VSTS.Common.TestedBy-Forward": ("Tests", False, False),
    "Microsoft.VSTS.Common.TestedBy-Reverse": ("Tests", True, False),
}
FORWARD_RELS = {r for r in LINK_RULES if r.endswith("-Forward")}
SPRINT_MOVE = 50  # issues per POST /sprint/{id}/issue
BACKLINK = "remote:ado-backlink"
VERIFY_FIELDS = ("labels", "created", "updated", "creator")
# Items per chunk of a per-item phase (3 to 5): the unit a chunk task would take.
PHASE_CHUNK = 1000
