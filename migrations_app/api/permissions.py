"""The permission every /api/ view uses (kept apart: DRF imports it while loading)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class IsTenantMember(BasePermission):
    """Authenticated, and a member of a tenant (operators without one use the admin)."""

    message = "This user belongs to no tenant."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return getattr(user, "tenant_id", None) is not None
