"""DICOM peers: registering a calling AE title (services) and finding one (selectors).

A peer is allowed to associate only while its account is an active `pacs` account (or an
admin): the account's limits are the peer's. A calling AE title is only a name the caller
chooses, so an association must also come from the peer's networks, or from its host.
"""

from __future__ import annotations

import ipaddress
import socket

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from screening.pacs.access import user_may_stow
from screening.pacs.models import PacsPeer
from screening.pacs.networks import NetworkError, networks_parse


class PeerError(ValueError):
    """A peer that cannot be registered as given."""


def networks_of(*, networks: str) -> str:
    """Return `networks` written out canonically; PeerError naming a bad item."""
    try:
        return ", ".join(str(n) for n in networks_parse(networks=networks))
    except NetworkError as exc:
        raise PeerError(str(exc)) from exc


def ae_title_is_valid(*, ae_title: str) -> bool:
    """Say whether `ae_title` is a DICOM AE title: 1 to 16 printable characters, no backslash."""
    stripped = ae_title.strip()
    return 0 < len(stripped) <= 16 and stripped.isprintable() and "\\" not in stripped


def host_addresses(*, host: str) -> set[str]:
    """Return the addresses `host` resolves to (none when it does not resolve)."""
    try:
        return {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return set()


def peer_address_allowed(*, peer: PacsPeer, address: str) -> bool:
    """Say whether an association from `address` may act as `peer`."""
    try:
        caller = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    # A dual-stack listener sees an IPv4 peer as ::ffff:a.b.c.d.
    caller = getattr(caller, "ipv4_mapped", None) or caller
    if peer.networks.strip():
        try:
            networks = networks_parse(networks=peer.networks)
        except NetworkError:  # written past the admin's validation: refuse, never crash
            return False
        return any(caller in network for network in networks)
    allowed = {ipaddress.ip_address(a.split("%", 1)[0]) for a in host_addresses(host=peer.host)}
    return caller in allowed


@transaction.atomic
def peer_register(
    *,
    ae_title: str,
    username: str,
    host: str,
    port: int,
    results_by: str = "dimse",
    networks: str = "",
) -> PacsPeer:
    """Create or update the peer `ae_title`, mapped to the pacs account `username`."""
    ae_title = ae_title.strip()
    networks = networks_of(networks=networks)
    if not ae_title_is_valid(ae_title=ae_title):
        raise PeerError(f"{ae_title!r} is not an AE title (1 to 16 characters, no backslash)")
    if not 0 < port < 65536:
        raise PeerError(f"{port} is not a TCP port")
    if results_by not in PacsPeer.ResultsBy.values:
        raise PeerError(f"results_by must be one of {', '.join(PacsPeer.ResultsBy.values)}")
    user = get_user_model().objects.filter(username=username).first()
    if user is None or not user_may_stow(user=user):
        raise PeerError(f"{username!r} is not an active account with the role pacs")
    peer, _ = PacsPeer.objects.update_or_create(
        ae_title=ae_title,
        defaults={
            "user": user,
            "host": host,
            "port": port,
            "results_by": results_by,
            "networks": networks,
        },
    )
    return peer


def peer_allowed_get(*, ae_title: str) -> PacsPeer | None:
    """Return the peer that may associate with this calling AE title, or None."""
    peer = PacsPeer.objects.select_related("user").filter(ae_title=ae_title.strip()).first()
    if peer is None or not user_may_stow(user=peer.user):
        return None
    return peer


def peer_association_record(*, peer_id: int) -> None:
    """Remember when the peer last associated (the admin shows it)."""
    PacsPeer.objects.filter(pk=peer_id).update(last_association=timezone.now())
