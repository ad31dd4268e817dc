"""Writes for accounts."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from portal.accounts.models import Site, User
from portal.accounts.roles import Role


class UnknownRoleError(ValueError):
    pass


class UnknownSiteError(ValueError):
    pass


def site_upsert(*, slug: str, name: str = "") -> tuple[Site, bool]:
    """Create the site `slug` or rename it when `name` is given; return (site, created)."""
    site, created = Site.objects.get_or_create(slug=slug, defaults={"name": name or slug})
    if name and site.name != name:
        site.name = name
        site.save(update_fields=["name"])
    return site, created


def site_get(*, slug: str) -> Site:
    """Return the site `slug`; raise UnknownSiteError naming the known ones."""
    try:
        return Site.objects.get(slug=slug)
    except Site.DoesNotExist:
        known = ", ".join(Site.objects.values_list("slug", flat=True)) or "none"
        raise UnknownSiteError(f"Unknown site {slug!r}: known sites are {known}.") from None


@transaction.atomic
def user_upsert(
    *,
    username: str,
    password: str,
    role: str,
    email: str = "",
    validate: bool = True,
    site: Site | None = None,
) -> tuple[User, bool]:
    """Create or update `username` with `password` and exactly one role; return (user, created).

    Without `site` a new account joins the default site and an existing one keeps its own.
    """
    try:
        role_value = Role(role)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise UnknownRoleError(f"Unknown role {role!r}: choose one of {choices}.") from None
    user, created = User.objects.get_or_create(username=username, defaults={"email": email})
    if validate:
        validate_password(password, user=user)
    user.set_password(password)
    if email:
        user.email = email
    if site is not None:
        user.site = site
    # Reviewers work in the Django admin too; their group's permissions limit what they see.
    user.is_staff = role_value in (Role.ADMIN, Role.REVIEWER)
    user.is_superuser = role_value == Role.ADMIN
    user.save()
    user.groups.clear()
    if role_value != Role.ADMIN:
        group, _ = Group.objects.get_or_create(name=role_value.value)
        user.groups.add(group)
    return user, created
