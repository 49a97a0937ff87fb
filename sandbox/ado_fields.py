"""The ADO field and link-type catalog, and the timestamp form field values hold.

Fields are described as ``(referenceName, name, type, readOnly, isIdentity,
isPicklist)`` tuples; WIQL, the batch routes and the metadata routes all look
fields up here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

FieldSpec = tuple[str, str, str, bool, bool, bool]
RelationSpec = tuple[str, str, str, str | None]

# (referenceName, name, type, readOnly, isIdentity, isPicklist)
FIELD_SPECS: tuple[FieldSpec, ...] = (
    ("System.Id", "ID", "integer", True, False, False),
    ("System.Title", "Title", "string", False, False, False),
    ("System.WorkItemType", "Work Item Type", "string", True, False, False),
    ("System.State", "State", "string", False, False, False),
    ("System.Reason", "Reason", "string", False, False, False),
    ("System.AreaPath", "Area Path", "treePath", False, False, False),
    ("System.AreaId", "Area ID", "integer", False, False, False),
    ("System.IterationPath", "Iteration Path", "treePath", False, False, False),
    ("System.IterationId", "Iteration ID", "integer", False, False, False),
    ("System.TeamProject", "Team Project", "string", True, False, False),
    ("System.NodeName", "Node Name", "string", True, False, False),
    ("System.AreaLevel1", "Area Level 1", "string", True, False, False),
    ("System.AreaLevel2", "Area Level 2", "string", True, False, False),
    ("System.AreaLevel3", "Area Level 3", "string", True, False, False),
    ("System.IterationLevel1", "Iteration Level 1", "string", True, False, False),
    ("System.IterationLevel2", "Iteration Level 2", "string", True, False, False),
    ("System.IterationLevel3", "Iteration Level 3", "string", True, False, False),
    ("System.Rev", "Rev", "integer", True, False, False),
    ("System.AuthorizedDate", "Authorized Date", "dateTime", True, False, False),
    ("System.RevisedDate", "Revised Date", "dateTime", True, False, False),
    ("System.AssignedTo", "Assigned To", "identity", False, True, False),
    ("System.CreatedDate", "Created Date", "dateTime", True, False, False),
    ("System.CreatedBy", "Created By", "identity", True, True, False),
    ("System.ChangedDate", "Changed Date", "dateTime", True, False, False),
    ("System.ChangedBy", "Changed By", "identity", True, True, False),
    ("System.CommentCount", "Comment Count", "integer", True, False, False),
    ("System.Description", "Description", "html", False, False, False),
    ("System.History", "History", "history", False, False, False),
    ("System.Tags", "Tags", "plainText", False, False, False),
    ("System.Parent", "Parent", "integer", True, False, False),
    ("Microsoft.VSTS.Common.Priority", "Priority", "integer", False, False, True),
    ("Microsoft.VSTS.Common.Severity", "Severity", "string", False, False, True),
    ("Microsoft.VSTS.Common.ValueArea", "Value Area", "string", False, False, True),
    ("Microsoft.VSTS.Common.Activity", "Activity", "string", False, False, True),
    ("Microsoft.VSTS.Common.StateChangeDate", "State Change Date", "dateTime", True, False, False),
    ("Microsoft.VSTS.Common.ResolvedDate", "Resolved Date", "dateTime", True, False, False),
    ("Microsoft.VSTS.Common.ResolvedBy", "Resolved By", "identity", True, True, False),
    ("Microsoft.VSTS.Common.ClosedDate", "Closed Date", "dateTime", True, False, False),
    ("Microsoft.VSTS.Common.ClosedBy", "Closed By", "identity", True, True, False),
    (
        "Microsoft.VSTS.Common.AcceptanceCriteria",
        "Acceptance Criteria",
        "html",
        False,
        False,
        False,
    ),
    ("Microsoft.VSTS.Scheduling.StoryPoints", "Story Points", "double", False, False, False),
    ("Microsoft.VSTS.Scheduling.Effort", "Effort", "double", False, False, False),
    (
        "Microsoft.VSTS.Scheduling.OriginalEstimate",
        "Original Estimate",
        "double",
        False,
        False,
        False,
    ),
    ("Microsoft.VSTS.Scheduling.RemainingWork", "Remaining Work", "double", False, False, False),
    ("Microsoft.VSTS.Scheduling.CompletedWork", "Completed Work", "double", False, False, False),
    ("Microsoft.VSTS.Scheduling.TargetDate", "Target Date", "dateTime", False, False, False),
    ("Microsoft.VSTS.Scheduling.DueDate", "Due Date", "dateTime", False, False, False),
    ("Microsoft.VSTS.TCM.ReproSteps", "Repro Steps", "html", False, False, False),
    ("Microsoft.VSTS.TCM.SystemInfo", "System Info", "html", False, False, False),
    ("Custom.Impact", "Impact", "string", False, False, True),
    ("Custom.MitigationPlan", "Mitigation Plan", "html", False, False, False),
    # Test cases and shared steps: XML held in html fields, as ADO defines them.
    ("Microsoft.VSTS.TCM.Steps", "Steps", "html", False, False, False),
    ("Microsoft.VSTS.TCM.Parameters", "Parameters", "html", False, False, False),
    ("Microsoft.VSTS.TCM.LocalDataSource", "Local Data Source", "html", False, False, False),
    # Custom fields of a customised process (issue 12): one of each value type.
    ("Custom.Customer", "Customer", "string", False, False, False),
    ("Custom.RiskScore", "Risk Score", "integer", False, False, False),
    ("Custom.Confidence", "Confidence", "double", False, False, False),
    ("Custom.Deadline", "Deadline", "dateTime", False, False, False),
    ("Custom.Billable", "Billable", "boolean", False, False, False),
    ("Custom.Reviewer", "Reviewer", "identity", False, True, False),
    ("Custom.Platforms", "Platforms", "plainText", False, False, False),
    ("Custom.Notes", "Notes", "html", False, False, False),
)
FIELDS = {spec[0].lower(): spec for spec in FIELD_SPECS}
FIELDS_BY_NAME = {spec[1].lower(): spec for spec in FIELD_SPECS}
COMMON_TYPE_FIELDS = [s[0] for s in FIELD_SPECS[:31]]
TYPE_FIELDS: dict[str, list[str]] = {
    "Epic": [
        "Microsoft.VSTS.Common.ValueArea",
        "Microsoft.VSTS.Common.AcceptanceCriteria",
        "Microsoft.VSTS.Scheduling.Effort",
        "Microsoft.VSTS.Scheduling.TargetDate",
        "Custom.Confidence",
        "Custom.Notes",
    ],
    "Feature": [
        "Microsoft.VSTS.Common.ValueArea",
        "Microsoft.VSTS.Common.AcceptanceCriteria",
        "Microsoft.VSTS.Scheduling.Effort",
        "Microsoft.VSTS.Scheduling.TargetDate",
        "Custom.Confidence",
        "Custom.Deadline",
        "Custom.Platforms",
        "Custom.Notes",
    ],
    "User Story": [
        "Microsoft.VSTS.Common.ValueArea",
        "Microsoft.VSTS.Common.AcceptanceCriteria",
        "Microsoft.VSTS.Scheduling.StoryPoints",
        "Custom.Customer",
        "Custom.Deadline",
        "Custom.Reviewer",
        "Custom.Platforms",
    ],
    "Task": [
        "Microsoft.VSTS.Common.Activity",
        "Microsoft.VSTS.Scheduling.OriginalEstimate",
        "Microsoft.VSTS.Scheduling.RemainingWork",
        "Microsoft.VSTS.Scheduling.CompletedWork",
        "Custom.Billable",
    ],
    "Bug": [
        "Microsoft.VSTS.TCM.ReproSteps",
        "Microsoft.VSTS.TCM.SystemInfo",
        "Microsoft.VSTS.Common.Severity",
        "Microsoft.VSTS.Scheduling.StoryPoints",
        "Custom.Customer",
        "Custom.Reviewer",
    ],
    "Issue": ["Microsoft.VSTS.Scheduling.DueDate"],
    "Risk": ["Custom.Impact", "Custom.MitigationPlan", "Custom.RiskScore"],
}
TYPE_FIELDS["Test Case"] = [
    "Microsoft.VSTS.TCM.Steps",
    "Microsoft.VSTS.TCM.Parameters",
    "Microsoft.VSTS.TCM.LocalDataSource",
]
TYPE_FIELDS["Shared Steps"] = ["Microsoft.VSTS.TCM.Steps", "Microsoft.VSTS.TCM.Parameters"]
ALLOWED = {
    "Microsoft.VSTS.Common.Priority": ["1", "2", "3", "4"],
    "Microsoft.VSTS.Common.Severity": ["1 - Critical", "2 - High", "3 - Medium", "4 - Low"],
    "Custom.Impact": ["High", "Medium", "Low"],
    "Microsoft.VSTS.Common.ValueArea": ["Business", "Architectural"],
}

RELATION_TYPES: tuple[RelationSpec, ...] = (
    # referenceName, name, topology (or usage), opposite end
    ("System.LinkTypes.Hierarchy-Forward", "Child", "tree", "System.LinkTypes.Hierarchy-Reverse"),
    ("System.LinkTypes.Hierarchy-Reverse", "Parent", "tree", "System.LinkTypes.Hierarchy-Forward"),
    ("System.LinkTypes.Related", "Related", "network", None),
    (
        "System.LinkTypes.Dependency-Forward",
        "Successor",
        "dependency",
        "System.LinkTypes.Dependency-Reverse",
    ),
    (
        "System.LinkTypes.Dependency-Reverse",
        "Predecessor",
        "dependency",
        "System.LinkTypes.Dependency-Forward",
    ),
    (
        "System.LinkTypes.Duplicate-Forward",
        "Duplicate",
        "tree",
        "System.LinkTypes.Duplicate-Reverse",
    ),
    (
        "System.LinkTypes.Duplicate-Reverse",
        "Duplicate Of",
        "tree",
        "System.LinkTypes.Duplicate-Forward",
    ),
    (
        "Microsoft.VSTS.Common.TestedBy-Forward",
        "Tested By",
        "dependency",
        "Microsoft.VSTS.Common.TestedBy-Reverse",
    ),
    (
        "Microsoft.VSTS.Common.TestedBy-Reverse",
        "Tests",
        "dependency",
        "Microsoft.VSTS.Common.TestedBy-Forward",
    ),
    (
        "Microsoft.VSTS.Common.Affects-Forward",
        "Affects",
        "dependency",
        "Microsoft.VSTS.Common.Affects-Reverse",
    ),
    (
        "Microsoft.VSTS.Common.Affects-Reverse",
        "Affected By",
        "dependency",
        "Microsoft.VSTS.Common.Affects-Forward",
    ),
    (
        "Custom.LinkTypes.Implements-Forward",
        "Implements",
        "dependency",
        "Custom.LinkTypes.Implements-Reverse",
    ),
    (
        "Custom.LinkTypes.Implements-Reverse",
        "Implemented By",
        "dependency",
        "Custom.LinkTypes.Implements-Forward",
    ),
    ("System.LinkTypes.Remote.Related", "Remote Related", "network", None),
    ("AttachedFile", "Attached File", "resourceLink", None),
    ("Hyperlink", "Hyperlink", "resourceLink", None),
    ("ArtifactLink", "Artifact Link", "resourceLink", None),
)


def lookup_field(name: str) -> FieldSpec | None:
    """A field by reference name or display name, case-insensitively (as WIQL allows)."""
    key = name.strip().lower()
    return FIELDS.get(key) or FIELDS_BY_NAME.get(key)


def parse_dt(text: str) -> datetime:
    """An ADO timestamp (``Z`` or an offset; naive means UTC) as an aware datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def day_of(value: str) -> date:
    """The calendar day of an ADO timestamp (used by tests of day-precision WIQL)."""
    return parse_dt(value).date()
