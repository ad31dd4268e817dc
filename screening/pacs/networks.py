"""The networks a DICOM peer may call from: a comma-separated list of addresses and CIDRs."""

from __future__ import annotations

import ipaddress

from django.core.exceptions import ValidationError


class NetworkError(ValueError):
    """An item that is neither an address nor a CIDR network."""


def networks_parse(*, networks: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Read a comma-separated list of addresses and CIDR networks; NetworkError naming a bad one."""
    parsed = []
    for item in (part.strip() for part in networks.split(",")):
        if not item:
            continue
        try:
            parsed.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise NetworkError(f"{item!r} is not an address or a CIDR network") from exc
    return parsed


def networks_validate(value: str) -> None:
    """Model-field validator: ValidationError naming the item that is not a network."""
    try:
        networks_parse(networks=value)
    except NetworkError as exc:
        raise ValidationError(str(exc)) from exc
