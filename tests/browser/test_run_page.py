"""The dashboard in headless Chromium against a live uvicorn, a Celery worker running
the real engine, and the ADO and Jira sandboxes: log in, create a project, start a
run, watch it live, pause and resume it from the page, open a failed item.

One item fails deterministically: the Jira sandbox (served in this process) refuses
to create the issue labelled with that item's ADO id. Screenshots of the run page
land in tests/artifacts/.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from tests.live.servers import ROOT, WebServer, process_env, start_web

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
ITEMS, SEED = 60, 1


def _victim() -> int:
    """A User Story with children in the seeded dataset (found, so dataset changes hold)."""
    from sandbox.dataset import generate

    data = generate(ITEMS, SEED)
    return next(i for i in data.ids() if data.type_name(i) == "User Story" and data.children(i))


VICTIM = _victim()
PASSWORD = "browser-pw-1"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip

if not CHROMIUM:
    pytestmark.append(pytest.mark.skip(reason="chromium is not installed (set CHROMIUM_PATH)"))


@pytest.fixture
def refuse_victim(make_sandboxes: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Private sandboxes, a little slow (so the run can be paused), refusing one issue."""
    from sandbox.jira_state import JiraError

    sb = make_sandboxes(items=ITEMS, seed=SEED, latency_ms=25)
    state = sb.jira.state
    real_create = state.create_issue

    def create_issue(body: Any) -> Any:
        labels = (body.get("fields") or {}).get("labels") or [] if isinstance(body, dict) else []
        if f"ado-{VICTIM}" in labels:
            raise JiraError(400, [], {"summary": "Refused by a workflow validator (test)."})
        return real_create(body)

    monkeypatch.setattr(state, "create_issue", create_issue)
    return sb


@pytest.fixture
def web(celery_worker: Any, tmp_path: Path) -> Iterator[WebServer]:
    celery_worker(MIGRATOR_ALLOW_PRIVATE_TARGETS="true", MIGRATOR_PROGRESS_EVENT_INTERVAL="0.2")
    env = process_env(
        celery_worker.env["DATABASE_URL"],
        celery_worker.env["SECRET_KEY"],
        celery_worker.env["MIGRATOR_VAR_DIR"],
        DEBUG="false",
    )
    server = start_web(env, tmp_path / "web.log")
    yield server
    server.stop()


@pytest.fixture
def login_user(tenant: Any) -> Any:
    from migrations_app.models import User

    # The web process knows only the default hashers (the tests use MD5 for speed).
    user = User.objects.create(username="carol", tenant=tenant)
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, "browsersalt", iterations=1000)
    user.save(update_fields=["password"])
    return user


@pytest.fixture
def page(web: WebServer) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, base_url=web.url)
        context.set_default_timeout(30_000)
        tab = context.new_page()
        tab.on("dialog", lambda dialog: dialog.accept())
        try:
            yield tab
        finally:
            context.close()
            browser.close()


def percent(page: Any) -> int:
    return int(page.locator("#percent").inner_text() or 0)


def test_a_user_starts_watches_pauses_and_resumes_a_run(
    login_user: Any, refuse_victim: Any, web: WebServer, page: Any
) -> None:
    # (fixture order matters: Playwright's sync API runs an event loop in this thread,
    # so everything touching the database is set up before the page exists)
    from playwright.sync_api import expect

    sb = refuse_victim
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()

    page.get_by_label("Name").fill("Browser project")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", name="Browser project", exact=True)).to_be_visible()

    page.get_by_label("Azure DevOps URL").fill(sb.ado_url)
    page.get_by_label("Organisation (or collection)").fill(sb.org)
    page.get_by_label("ADO project").fill(sb.project)
    page.get_by_label("Personal access token").fill(sb.pat)
    page.get_by_label("Jira site URL").fill(str(sb.jira_url))
    page.get_by_label("Jira account email").fill(sb.email)
    page.get_by_label("Jira API token").fill(sb.api_token)
    page.get_by_label("Jira project key").fill(sb.project_key)
    page.get_by_role("button", name="Start run").click()

    expect(page.get_by_role("heading", name="FULL run")).to_be_visible()
    expect(page.locator("#connection")).to_have_text(re.compile("live|finished"), timeout=15_000)

    # Pause once items are moving, from the page.
    page.wait_for_function("Number(document.getElementById('current').textContent) > 0")
    pause = page.get_by_role("button", name="Pause")
    if pause.is_visible() and percent(page) < 100:
        pause.click()
        expect(page.locator("#run-status")).to_have_text("PAUSED")
        page.screenshot(path=str(ARTIFACTS / "run-page-paused.png"), full_page=True)
        # The engine finishes its current step (within 2 s), then nothing moves.
        page.wait_for_timeout(2500)
        held = page.locator("#current").inner_text()
        page.wait_for_timeout(2000)
        assert page.locator("#current").inner_text() == held
        assert int(held) < 60
        page.get_by_role("button", name="Resume").click()
        expect(page.locator("#run-status")).to_have_text(re.compile("RUNNING|PARTIAL"))
    else:  # finished before we could pause: the test setup is too fast to mean anything
        pytest.fail("the run finished before it could be paused; raise the sandbox latency")

    expect(page.locator("#percent")).to_have_text("100", timeout=120_000)
    expect(page.locator("#run-status")).to_have_text("PARTIAL", timeout=60_000)
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#log")).to_contain_text(f"✗ ADO #{VICTIM}")
    expect(page.locator("#log")).to_contain_text("✓ ADO #")
    expect(page.locator("#count-failed")).to_have_text("1", timeout=10_000)
    failed = page.locator("#failed-panel").get_by_role("link", name=f"#{VICTIM}", exact=True)
    expect(failed).to_be_visible(timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / "run-page-finished.png"), full_page=True)

    failed.click()
    expect(page.get_by_role("heading", name=f"ADO #{VICTIM}")).to_be_visible()
    expect(page.locator("#item-error")).to_contain_text("Refused by a workflow validator")
    page.screenshot(path=str(ARTIFACTS / "failed-item.png"), full_page=True)


@pytest.fixture
def small_sandboxes(make_sandboxes: Any) -> Any:
    return make_sandboxes(items=15, seed=1)


def test_a_user_rolls_a_run_back_after_seeing_the_dry_runs_counts(
    login_user: Any, small_sandboxes: Any, web: WebServer, page: Any
) -> None:
    from playwright.sync_api import expect

    sb = small_sandboxes
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Name").fill("Rollback project")
    page.get_by_role("button", name="Create project").click()
    page.get_by_label("Azure DevOps URL").fill(sb.ado_url)
    page.get_by_label("Organisation (or collection)").fill(sb.org)
    page.get_by_label("ADO project").fill(sb.project)
    page.get_by_label("Personal access token").fill(sb.pat)
    page.get_by_label("Jira site URL").fill(str(sb.jira_url))
    page.get_by_label("Jira account email").fill(sb.email)
    page.get_by_label("Jira API token").fill(sb.api_token)
    page.get_by_label("Jira project key").fill(sb.project_key)
    page.get_by_role("button", name="Start run").click()
    expect(page.locator("#run-status")).to_have_text("COMPLETED", timeout=120_000)
    created = len(sb.jira.issue_keys())
    assert created > 0

    page.reload()  # the rollback button is rendered for a finished run
    page.get_by_role("button", name="Roll back…").click()
    expect(page.get_by_role("heading", name=re.compile("Roll back the FULL run"))).to_be_visible()
    issues = page.locator("#rollback-counts tr[data-kind=Issues] td.planned")
    expect(issues).to_have_text(str(created), timeout=60_000)  # the page refreshes until then
    assert len(sb.jira.issue_keys()) == created  # the dry run removed nothing
    page.screenshot(path=str(ARTIFACTS / "rollback-confirm.png"), full_page=True)

    page.get_by_role("button", name="Roll back", exact=True).click()
    expect(page.get_by_role("heading", name="ROLLBACK run")).to_be_visible()
    expect(page.locator("#run-status")).to_have_text("COMPLETED", timeout=120_000)
    expect(page.locator("#count-removed")).to_have_text(str(created), timeout=10_000)
    assert sb.jira.issue_keys() == []
    page.screenshot(path=str(ARTIFACTS / "rollback-done.png"), full_page=True)
