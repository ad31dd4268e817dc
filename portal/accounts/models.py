"""The portal's user: a custom model from the first migration, so it can grow later."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.functional import cached_property

from portal.accounts.roles import Role


class User(AbstractUser):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        ordering = ["username"]

    def has_role(self, role: Role | str) -> bool:
        """Say whether the user holds `role` (admins hold every role)."""
        if self.is_superuser:
            return True
        # Read once per instance (one request): every permission check asks again.
        if self._role_names is None:
            self._role_names = frozenset(self.groups.values_list("name", flat=True))
        return str(role) in self._role_names

    _role_names: frozenset[str] | None = None

    def refresh_from_db(self, *args, **kwargs) -> None:
        self._role_names = None
        super().refresh_from_db(*args, **kwargs)

    @property
    def is_reviewer(self) -> bool:
        return self.has_role(Role.REVIEWER)

    @cached_property
    def is_pacs_only(self) -> bool:
        """Say whether this is a PACS service account (never true for admins)."""
        return not self.is_superuser and self.has_role(Role.PACS)
