"""Every relation kind: artifact URIs, titles, web URLs, and link-type decisions (pure)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from engine.artifacts import (
    ArtifactContext,
    artifact_title,
    artifact_web_url,
    parse_artifact_uri,
)
from engine.model import Relation
from engine.relations import (
    DEFAULT_LINK_RULES,
    JiraLinkType,
    LinkRule,
    RelationContext,
    check_link_type_map,
    decide_relation,
    decide_relations,
    jira_link_types,
    org_key,
    stable_digest,
)

PROJ = "3065bb47-8344-4370-982a-5183abf197fa"
REPO = "649107bd-ab35-4192-8584-601f64172f80"
WIKI = "201005d4-3f97-4766-9b82-b69c89972e64"
SHA = "4800cfa0be564b1e606d6811e99e0380f765a9c4"
ORG = "https://dev.azure.com/fabrikam"
WEB = f"{ORG}/Fabrikam"
ACTX = ArtifactContext(
    org_web_url=ORG,
    project="Fabrikam",
    project_names={PROJ: "Fabrikam"},
    repo_names={REPO: "web-app"},
    build_numbers={"1234": "20240501.3"},
    wiki_names={WIKI: "Fabrikam.wiki"},
)
SITE = jira_link_types(
    [
        {"id": "10000", "name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
        {"id": "10001", "name": "Cloners", "inward": "is cloned by", "outward": "clones"},
        {"id": "10002", "name": "Duplicate", "inward": "is duplicated by", "outward": "duplicates"},
        {"id": "10003", "name": "Relates", "inward": "relates to", "outward": "relates to"},
        {"id": "10004", "name": "Tests", "inward": "is tested by", "outward": "tests"},
        {"id": "10005", "name": "Problem/Incident", "inward": "is caused by", "outward": "causes"},
        {"name": ""},
        "junk",
    ]
)


IMPLEMENTS = JiraLinkType("Implements", "is implemented by", "implements")


def ctx(**over: Any) -> RelationContext:
    base: dict[str, Any] = {
        "ado_org_url": ORG,
        "ado_web_url": WEB,
        "link_types": SITE,
        "artifacts": ACTX,
    }
    return RelationContext(**{**base, **over})


def git(kind: str, last: str) -> str:
    return f"vstfs:///Git/{kind}/{PROJ}%2F{REPO}%2F{last}"


def wi(item_id: int, org: str = ORG) -> str:
    return f"{org}/_apis/wit/workItems/{item_id}"


# --------------------------------------------------------------------------- artifacts
@pytest.mark.parametrize(
    ("uri", "kind", "title", "url"),
    [
        (
            git("Commit", SHA),
            "commit",
            "Commit 4800cfa in repo web-app",
            f"{WEB}/_git/web-app/commit/{SHA}",
        ),
        (
            git("PullRequestId", "42"),
            "pull_request",
            "Pull request 42 in repo web-app",
            f"{WEB}/_git/web-app/pullrequest/42",
        ),
        (
            git("Ref", "GBmain"),
            "branch",
            "Branch main in repo web-app",
            f"{WEB}/_git/web-app?version=GBmain",
        ),
        (
            git("Ref", "GBfeature%2Flogin"),
            "branch",
            "Branch feature/login in repo web-app",
            f"{WEB}/_git/web-app?version=GBfeature%2Flogin",
        ),
        (
            git("Ref", "GTv1.2"),
            "tag",
            "Tag v1.2 in repo web-app",
            f"{WEB}/_git/web-app?version=GTv1.2",
        ),
        (
            git("Ref", f"GC{SHA}"),
            "ref_commit",
            "Commit 4800cfa in repo web-app",
            f"{WEB}/_git/web-app/commit/{SHA}",
        ),
        (
            "vstfs:///Build/Build/1234",
            "build",
            "Build 20240501.3",
            f"{WEB}/_build/results?buildId=1234",
        ),
        ("vstfs:///Build/Build/77", "build", "Build 77", f"{WEB}/_build/results?buildId=77"),
        (
            "vstfs:///VersionControl/Changeset/312",
            "changeset",
            "Changeset 312",
            f"{WEB}/_versionControl/changeset/312",
        ),
        (
            "vstfs:///VersionControl/VersionedItem/%252524%25252FTFVC%252520Project%25252FSomeFile.txt"
            "%2526changesetVersion%253D4%2526deletionId%253D0",
            "versioned_item",
            "File $/TFVC Project/SomeFile.txt (changeset 4)",
            f"{WEB}/_versionControl?path=%24%2FTFVC%20Project%2FSomeFile.txt&version=4",
        ),
        (
            "vstfs:///VersionControl/VersionedItem/%252524%25252FP%25252FA%252520%252526%252520B.txt"
            "%2526changesetVersion%253DT%2526deletionId%253D0",
            "versioned_item",
            "File $/P/A & B.txt (latest version)",
            f"{WEB}/_versionControl?path=%24%2FP%2FA%20%26%20B.txt&version=T",
        ),
        (
            f"vstfs:///Wiki/WikiPage/{PROJ}%2F{WIKI}%2FFirst%20wiki%20page%2FChild",
            "wiki_page",
            "Wiki page /First wiki page/Child",
            f"{WEB}/_wiki/wikis/Fabrikam.wiki?pagePath=%2FFirst%20wiki%20page%2FChild",
        ),
    ],
)
def test_artifacts_get_readable_titles_and_urls(uri: str, kind: str, title: str, url: str) -> None:
    art = parse_artifact_uri(uri)
    assert art is not None
    assert art.kind == kind
    assert artifact_title(art, ACTX) == title
    assert artifact_web_url(art, ACTX) == url


def test_unknown_repo_and_project_fall_back_to_their_ids() -> None:
    art = parse_artifact_uri(f"vstfs:///Git/Commit/p-1%2Fr-9%2F{SHA}")
    assert art is not None
    assert artifact_title(art, ACTX) == "Commit 4800cfa in repo r-9"
    assert artifact_web_url(art, ACTX) == f"{ORG}/p-1/_git/r-9/commit/{SHA}"


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "https://example.test/x",
        "vstfs:///",
        "vstfs:///Git",
        "vstfs:///Git/Commit",
        "vstfs:///Git/Commit/",
        12,
        None,
        "vstfs:///" + "A/" * 5000,
    ],
)
def test_non_uris_are_not_artifacts(uri: Any) -> None:
    assert parse_artifact_uri(uri) is None


@pytest.mark.parametrize(
    "uri",
    [
        "vstfs:///Git/Commit/only-one-part",
        "vstfs:///Git/Commit/a%2Fb%2F",
        "vstfs:///Git/Ref/a%2Fb%2FXXmain",
        "vstfs:///Git/Ref/a%2Fb%2FGB",
        "vstfs:///Build/Build/not-a-number",
        "vstfs:///VersionControl/Changeset/12a",
        "vstfs:///Wiki/WikiPage/just-one",
        "vstfs:///TestManagement/TcmResult/12.3",
        "vstfs:///Requirements/Storyboard/%ZZ%",
    ],
)
def test_malformed_or_unknown_artifacts_are_kept_as_unknown(uri: str) -> None:
    art = parse_artifact_uri(uri)
    assert art is not None and art.kind == "unknown"
    assert artifact_web_url(art, ACTX) == uri
    assert artifact_title(art, ACTX).startswith("Azure DevOps ")


# --------------------------------------------------------------------------- decisions
def test_artifact_links_become_remote_links_with_stable_ids() -> None:
    uri = git("Commit", SHA)
    decision = decide_relation(Relation("ArtifactLink", uri, {"name": "Fixed in Commit"}), ctx())
    assert decision.action == "remote_link"
    assert decision.title == "Commit 4800cfa in repo web-app"
    assert decision.url == f"{WEB}/_git/web-app/commit/{SHA}"
    assert decision.global_id == f"ado-artifact-{stable_digest(uri)}"
    assert decision.report == ""


def test_an_unknown_artifact_is_a_plain_remote_link_with_a_report_line() -> None:
    uri = "vstfs:///TestManagement/TcmResult/12.3"
    decision = decide_relation(Relation("ArtifactLink", uri, {"name": "Test Result"}), ctx())
    assert decision.action == "remote_link"
    assert decision.url == uri
    assert decision.title.startswith("Test Result: Azure DevOps TestManagement TcmResult")
    assert "unknown kind" in decision.report


def test_an_unreadable_artifact_uri_is_still_reported() -> None:
    decision = decide_relation(Relation("ArtifactLink", "garbage", {}), ctx())
    assert decision.action == "remote_link" and decision.report


def test_without_an_artifact_context_the_web_base_is_used() -> None:
    decision = decide_relation(
        Relation("ArtifactLink", "vstfs:///Build/Build/5", {}), ctx(artifacts=None)
    )
    assert decision.url == f"{WEB}/_build/results?buildId=5"


def test_hyperlinks_keep_the_global_id_they_always_had() -> None:
    rel = Relation("Hyperlink", "https://wiki.example/page", {"comment": "  Design\n doc "})
    decision = decide_relation(rel, ctx())
    assert (decision.action, decision.title) == ("remote_link", "Design doc")
    assert decision.global_id.startswith("hyperlink:") and len(decision.global_id) == 26


@pytest.mark.parametrize(
    ("rel", "over", "action", "rule"),
    [
        # the pipeline's defaults
        *[(r, {}, "issue_link", rule) for r, rule in DEFAULT_LINK_RULES.items()],
        # a site without "Tests": Relates, as the pipeline does
        (
            "Microsoft.VSTS.Common.TestedBy-Forward",
            {"link_types": [t for t in SITE if t.name != "Tests"]},
            "issue_link",
            LinkRule("Relates", False, False),
        ),
        # the map wins over the defaults, by reference name or ADO display name
        (
            "System.LinkTypes.Related",
            {"link_type_map": {"System.LinkTypes.Related": "Cloners"}},
            "issue_link",
            LinkRule("Cloners", True, True),  # still written once, from one end
        ),
        # a mapped type keeps the direction ADO's name gives it
        (
            "Microsoft.VSTS.Common.TestedBy-Forward",
            {"link_type_map": {"Tested By": "Tests"}},
            "issue_link",
            LinkRule("Tests", False, False),
        ),
        (
            "Microsoft.VSTS.Common.TestedBy-Reverse",
            {"link_type_map": {"Microsoft.VSTS.Common.TestedBy-Reverse": "tests"}},
            "issue_link",
            LinkRule("Tests", True, False),
        ),
        # a custom type named like a site type's description
        (
            "Custom.LinkTypes.Causes-Forward",
            {"ado_link_names": {"Custom.LinkTypes.Causes-Forward": "Causes"}},
            "issue_link",
            LinkRule("Problem/Incident", True, False),
        ),
        (
            "Microsoft.VSTS.Common.Affects-Forward",
            {"link_type_map": {"affects": "Problem/Incident"}},
            "issue_link",
            LinkRule("Problem/Incident", True, False),
        ),
        (
            "Microsoft.VSTS.Common.Affects-Reverse",
            {"link_type_map": {"Affected By": "causes"}},
            "issue_link",
            LinkRule("Problem/Incident", False, False),
        ),
        # a custom type's reverse end found by the verb of the site's inward description
        (
            "Custom.LinkTypes.Implements-Reverse",
            {
                "ado_link_names": {"Custom.LinkTypes.Implements-Reverse": "Implemented By"},
                "link_types": [
                    *SITE,
                    JiraLinkType("Implements", "is implemented by", "implements"),
                ],
            },
            "issue_link",
            LinkRule("Implements", False, False),
        ),
        (
            "Custom.LinkTypes.Implements-Forward",
            {
                "ado_link_names": {"Custom.LinkTypes.Implements-Forward": "Implements"},
                "link_types": [
                    *SITE,
                    JiraLinkType("Implements", "is implemented by", "implements"),
                ],
            },
            "issue_link",
            LinkRule("Implements", True, False),
        ),
        # one entry maps both ends of a pair: the reverse end is the inward one
        (
            "Microsoft.VSTS.Common.Affects-Reverse",
            {"link_type_map": {"Affects": "Blocks"}},
            "issue_link",
            LinkRule("Blocks", False, False),
        ),
        (
            "Microsoft.VSTS.Common.Affects-Forward",
            {"link_type_map": {"Affects": "Blocks"}},
            "issue_link",
            LinkRule("Blocks", True, False),
        ),
        # matched by the site's inward description
        (
            "Custom.LinkTypes.CausedBy-Reverse",
            {"ado_link_names": {"Custom.LinkTypes.CausedBy-Reverse": "Is Caused By"}},
            "issue_link",
            LinkRule("Problem/Incident", False, False),
        ),
        # no counterpart: remote link
        ("Microsoft.VSTS.Common.Affects-Forward", {}, "remote_link", None),
        ("Custom.LinkTypes.Whatever-Forward", {}, "remote_link", None),
        # a map naming a type the site lacks: remote link, not a silent Relates
        (
            "Microsoft.VSTS.Common.Affects-Forward",
            {"link_type_map": {"Affects": "Nope"}},
            "remote_link",
            None,
        ),
        # hierarchy is the pipeline's business
        ("System.LinkTypes.Hierarchy-Reverse", {}, "parent", None),
        ("System.LinkTypes.Hierarchy-Forward", {}, "child", None),
    ],
)
def test_work_item_links(
    rel: str, over: dict[str, Any], action: str, rule: LinkRule | None
) -> None:
    decision = decide_relation(Relation(rel, wi(7)), ctx(**over))
    assert decision.action == action, decision.reason
    assert decision.target_id == 7
    assert decision.link == rule
    if action == "remote_link":
        assert decision.url == f"{WEB}/_workitems/edit/7"
        assert decision.global_id == "ado-workitem-7"
        assert decision.report and decision.reason in decision.report


def test_a_link_into_another_organisation_is_a_remote_link_there() -> None:
    other = "https://dev.azure.com/contoso"
    decision = decide_relation(Relation("System.LinkTypes.Related", wi(9, other)), ctx())
    assert decision.action == "remote_link"
    assert decision.url == f"{other}/_workitems/edit/9"
    assert "another organisation" in decision.report
    assert decision.global_id.startswith("ado-workitem-") and decision.global_id != "ado-workitem-9"


def test_attachments_and_strange_relations() -> None:
    att = decide_relation(Relation("AttachedFile", f"{ORG}/_apis/wit/attachments/abc"), ctx())
    assert att.action == "attachment"
    odd = decide_relation(Relation("Something.New", "https://x.example/thing"), ctx())
    assert odd.action == "remote_link" and "no rule" in odd.report


def test_nothing_is_dropped() -> None:
    rels = [
        Relation("System.LinkTypes.Related", wi(1)),
        Relation("ArtifactLink", "vstfs:///Build/Build/1"),
        Relation("Hyperlink", "https://x.example"),
        Relation("AttachedFile", f"{ORG}/_apis/wit/attachments/a"),
        Relation("Custom.Link-Forward", wi(2)),
        Relation("weird", ""),
    ]
    decisions = decide_relations(rels, ctx())
    assert len(decisions) == len(rels)
    assert all(d.reason for d in decisions)


def test_an_empty_site_list_trusts_the_names() -> None:
    decision = decide_relation(
        Relation("System.LinkTypes.Dependency-Forward", wi(3)), ctx(link_types=[])
    )
    assert decision.link == LinkRule("Blocks", True, False)


@pytest.mark.parametrize(
    ("raw", "codes"),
    [
        (None, []),
        ({"Affects": "Problem/Incident", "Tested By": "tests"}, []),
        ("Affects", ["not-an-object"]),
        ({"Affects": 3}, ["bad-entry"]),
        ({"": "Relates"}, ["bad-entry"]),
        ({"Affects": "Nope"}, ["unknown-jira-type"]),
    ],
)
def test_the_link_type_map_is_checked_before_any_write(raw: Any, codes: list[str]) -> None:
    assert [p.code for p in check_link_type_map(raw, SITE)] == codes


def test_jira_link_types_skips_junk() -> None:
    assert [t.name for t in SITE][-1] == "Problem/Incident"
    assert JiraLinkType("Relates", "relates to", "relates to", "10003") in SITE


@pytest.mark.parametrize(
    ("url", "same"),
    [
        (wi(5), True),
        (f"{ORG}/{PROJ}/_apis/wit/workItems/5", True),  # with the project in the path
        ("https://DEV.azure.com/Fabrikam/_apis/wit/workItems/5", True),
        ("https://fabrikam.visualstudio.com/_apis/wit/workItems/5", True),
        ("https://fabrikam.visualstudio.com/Fabrikam/_apis/wit/workItems/5", True),
        ("https://dev.azure.com/contoso/_apis/wit/workItems/5", False),
        ("https://contoso.visualstudio.com/_apis/wit/workItems/5", False),
        ("http://127.0.0.1:8123/fabrikam/_apis/wit/workItems/5", False),
    ],
)
def test_which_organisation_an_item_is_in(url: str, same: bool) -> None:
    decision = decide_relation(Relation("System.LinkTypes.Related", url), ctx())
    assert (decision.action == "issue_link") is same


def test_a_local_organisation_is_compared_with_its_port() -> None:
    local = "http://127.0.0.1:8123/fab"
    here = ctx(ado_org_url=local, ado_web_url=f"{local}/Proj")
    mine = decide_relation(
        Relation("System.LinkTypes.Related", f"{local}/Proj/_apis/wit/workItems/1"), here
    )
    other = decide_relation(
        Relation("System.LinkTypes.Related", "http://127.0.0.1:9000/fab/_apis/wit/workItems/1"),
        here,
    )
    assert (mine.action, other.action) == ("issue_link", "remote_link")


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://dev.azure.com/Fabrikam/x/_apis/wit/workItems/2", "dev.azure.com/fabrikam"),
        ("https://fabrikam.visualstudio.com/", "dev.azure.com/fabrikam"),
        ("http://[::1", ""),
        ("http://x:99999/a", ""),
        ("garbage", ""),
        ("", ""),
    ],
)
def test_org_key(url: str, key: str) -> None:
    assert org_key(url) == key


def test_random_uris_and_relations_never_crash() -> None:
    rng = random.Random(7)
    pieces = [
        "vstfs:///",
        "Git/",
        "Commit/",
        "Ref/",
        "Build/",
        "Wiki/",
        "WikiPage/",
        "VersionControl/",
        "VersionedItem/",
        "%2F",
        "%25",
        "%",
        "GB",
        "GT",
        "&changesetVersion=",
        "\ud800",
        "/",
        "1",
        "x",
    ]
    for _ in range(2000):
        uri = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        art = parse_artifact_uri(uri)
        if art is not None:
            assert artifact_title(art, ACTX)
            assert artifact_web_url(art, ACTX)
        rel = rng.choice(
            ["ArtifactLink", "Hyperlink", "System.LinkTypes.Related", "X", "AttachedFile"]
        )
        decision = decide_relation(Relation(rel, uri, {"name": uri, "comment": uri}), ctx())
        assert decision.reason
