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

    @property
    def ado_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "ado:" + self.email))

    @property
    def jira_account_id(self) -> str:
        digest = hashlib.sha1(self.email.encode()).hexdigest()[:24]
        return f"712020:{digest}"
