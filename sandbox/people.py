"""People known to the simulated organisation, shared by both sandboxes."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    display_name: str
    email: str
    in_jira: bool = True  # False: an ADO user with no Jira account
    email_hidden: bool = False  # True: Jira hides the address (privacy setting)
    # The address of the person's Jira account when it is not their ADO one (a
    # company renamed, a second domain): only a user map can tell the two apart.
    jira_email: str = ""

    @property
    def jira_address(self) -> str:
        return self.jira_email or self.email

    @property
    def ado_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "ado:" + self.email))

    @property
    def jira_account_id(self) -> str:
        digest = hashlib.sha1(self.email.encode()).hexdigest()[:24]
        return f"712020:{digest}"
