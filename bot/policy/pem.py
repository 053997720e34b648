"""The `PemBundle` policy type: one or more PEM certificates, checked for shape and base64 body."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated

from pydantic import AfterValidator

_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----\s*\n(?P<body>[^-]+?)-----END CERTIFICATE-----")
_HINT = (
    "expected PEM certificates (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----), "
    "written as a YAML block (ca: |)"
)


def _check_pem(value: str) -> str:
    text = value.strip()
    blocks = list(_BLOCK.finditer(text))
    if not blocks or _BLOCK.sub("", text).strip():
        raise ValueError(f"not a certificate bundle: {_HINT}")
    for number, block in enumerate(blocks, start=1):
        try:
            der = base64.b64decode("".join(block["body"].split()), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"certificate {number} is not valid base64: {_HINT}") from None
        if not der.startswith(b"\x30"):  # a DER certificate is an ASN.1 SEQUENCE
            raise ValueError(f"certificate {number} is not a DER certificate: {_HINT}")
    return text + "\n"


PemBundle = Annotated[str, AfterValidator(_check_pem)]


def pem_to_data(pem: str) -> str:
    """The bundle as kubeconfig's `certificate-authority-data`: base64 of the PEM text."""
    return base64.b64encode(pem.encode("ascii")).decode("ascii")
