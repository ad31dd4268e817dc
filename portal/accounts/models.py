"""The portal's user: a custom model from the first migration, so it can grow later."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connections, models
from django.db.models import Q, QuerySet, Value
from django.utils.functional import cached_property

from portal.accounts.roles import Role

# The annotation `role_names_annotate` adds: the user's group names, read with the user.
ROLE_NAMES_READ = "role_names_read"


def role_names_annotate(*, queryset: QuerySet, user_path: str = "") -> QuerySet:
    """Annotate each row with its user's role names, so no second query reads them.

    `user_path` leads from the queryset's model to the user ("" for users, "user__" for tokens).
    Array aggregation is PostgreSQL's; elsewhere (the SQLite demo) the roles are read apart.
    """
    if connections[queryset.db].vendor != "postgresql":
        return queryset
    groups = f"{user_path}groups__name"
    return queryset.annotate(
        **{
            ROLE_NAMES_READ: ArrayAgg(
                groups, filter=Q(**{f"{groups}__isnull": False}), default=Value([])
            )
        }
    )


# The site every account and study belongs to until an admin says otherwise.
DEFAULT_SITE_SLUG = "default"


class Site(models.Model):
    """A hospital or department: its users, PACS accounts and studies are reported together."""

    slug = models.SlugField(max_length=48, unique=True)
    name = models.CharField(max_length=120)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def site_default_pk() -> int:
    """Return the default site's key, creating the site if it is missing."""
    site, _ = Site.objects.get_or_create(slug=DEFAULT_SITE_SLUG, defaults={"name": "Default site"})
    return site.pk


class User(AbstractUser):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Saving without one puts the account in the default site.
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="users")

    class Meta:
        ordering = ["username"]

    def has_role(self, role: Role | str) -> bool:
        """Say whether the user holds `role` (admins hold every role)."""
        if self.is_superuser:
            return True
        # Read once per instance (one request): every permission check asks again.
        if self._role_names is None:
            read = self.__dict__.get(ROLE_NAMES_READ)
            names = read if read is not None else self.groups.values_list("name", flat=True)
            self._role_names = frozenset(names)
        return str(role) in self._role_names

    _role_names: frozenset[str] | None = None

    def save(self, *args, **kwargs) -> None:
        if self.site_id is None:
            self.site_id = site_default_pk()
        super().save(*args, **kwargs)

    def refresh_from_db(self, *args, **kwargs) -> None:
        self._role_names = None
        self.__dict__.pop(ROLE_NAMES_READ, None)
        super().refresh_from_db(*args, **kwargs)

    @property
    def is_reviewer(self) -> bool:
        return self.has_role(Role.REVIEWER)

    @cached_property
    def is_pacs_only(self) -> bool:
        """Say whether this is a PACS service account (never true for admins)."""
        return not self.is_superuser and self.has_role(Role.PACS)

    @cached_property
    def is_monitoring_only(self) -> bool:
        """Say whether this is a scraper's account, for /metrics alone (never an admin)."""
        return not self.is_superuser and self.has_role(Role.MONITORING)
