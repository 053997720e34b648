"""Kubernetes quantities ("500m", "1Gi", "2e3") as exact numbers, to compare policy limits."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_SUFFIX = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_FORM = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)([KMGTPE]i|[mkMGTPE])?")


def quantity_value(text: str) -> Decimal:
    """The number a quantity stands for ("500m" -> 0.5, "1Ki" -> 1024).

    Raises:
        ValueError: `text` is not a Kubernetes quantity.
    """
    match = _FORM.fullmatch(text.strip())
    if match is None:
        raise ValueError(f'"{text}" is not a Kubernetes quantity (e.g. "4", 500m, 8Gi)')
    try:
        return Decimal(match.group(1)) * _SUFFIX[match.group(2) or ""]
    except InvalidOperation as exc:
        raise ValueError(f'"{text}" is not a Kubernetes quantity') from exc
