"""The checks every ADO API call shares before its handler runs: a supported
``api-version`` (with ``-preview`` on preview routes) and a known organisation
and project. Each failure raises :class:`~sandbox.ado_errors.AdoError`."""

from __future__ import annotations

import re

from sandbox.ado_errors import FRAMEWORK, WEBAPI, AdoError, project_not_found
from sandbox.ado_site import AdoSite
from sandbox.httpbase import Request

LATEST_API_VERSION = (7, 2)


def check_version(request: Request, preview: bool) -> None:
    version = request.arg("api-version")
    if version is None:
        m = re.search(r"api-version=([\w.\-]+)", request.headers.get("Accept") or "")
        version = m.group(1) if m else None
    if not version:
        raise AdoError(
            400,
            f'No api-version was supplied for the "{request.method}" request. '
            "The version must be supplied either as part of the Accept header "
            '(e.g. "application/json; api-version=1.0") or as a query parameter '
            '(e.g. "?api-version=1.0").',
            "VssVersionNotSpecifiedException",
            WEBAPI,
            event_id=3000,
        )
    m = re.fullmatch(r"(\d+)\.(\d+)(-preview(\.\d+)?)?", version)
    if m is None:
        raise AdoError(
            400,
            f'The following api-version parameter value could not be parsed: "{version}".',
            "VssInvalidApiVersionException",
            WEBAPI,
            event_id=3000,
        )
    number = (int(m.group(1)), int(m.group(2)))
    if number > LATEST_API_VERSION:
        raise AdoError(
            400,
            f"The requested REST API version of {version} is out of range for "
            f"this server. The latest REST API version this server supports is "
            f"{LATEST_API_VERSION[0]}.{LATEST_API_VERSION[1]}.",
            "VssVersionOutOfRangeException",
            WEBAPI,
            event_id=3000,
        )
    if preview and not m.group(3):
        raise AdoError(
            400,
            f'The requested version "{version}" of the resource is under '
            "preview. The -preview flag must be supplied in the api-version for "
            f'such requests. For example: "{version}-preview"',
            "VssInvalidPreviewVersionException",
            WEBAPI,
            event_id=3000,
        )


def check_scope(site: AdoSite, request: Request) -> None:
    org = request.params.get("org", "")
    if org.lower() != site.org.lower():
        raise AdoError(
            404,
            f"VS800075: The organization '{org}' does not exist or you do not "
            "have permission to access it.",
            "OrganizationNotFoundException",
            FRAMEWORK,
            event_id=3000,
        )
    project = request.params.get("project")
    if project is not None and project.lower() not in (site.project.lower(), site.project_id):
        raise project_not_found(project)
