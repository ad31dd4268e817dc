"""Roles are Django groups; this module names them and what each may do."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CLINICIAN = "clinician"
    REVIEWER = "reviewer"
    ADMIN = "admin"
    PACS = "pacs"  # a PACS's service account: may send studies over STOW-RS, sees nothing


# Groups created by the data migration; admin is staff + superuser, not a group.
ROLE_GROUPS = (Role.CLINICIAN, Role.REVIEWER, Role.PACS)
