"""Roles are Django groups; this module names them and what each may do."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CLINICIAN = "clinician"
    REVIEWER = "reviewer"
    ADMIN = "admin"
    PACS = "pacs"  # a PACS's service account: may send studies over STOW-RS, sees nothing
    # A scraper's account (Prometheus): may read /metrics, sees nothing else. Its group and
    # permission come with the drift app's migrations.
    MONITORING = "monitoring"


# Groups created by the data migration; admin is staff + superuser, not a group.
ROLE_GROUPS = (Role.CLINICIAN, Role.REVIEWER, Role.PACS)
