"""What a user's kubeconfig needs from a `KommanderCluster`: the kube-oidc-proxy URL and its CA.

DKP publishes the cluster's ingress in `status.ingress`: `address` (a host name or IP) and
`caBundle`, a Go `[]byte` and so base64 in JSON, of the PEM CA that signed the ingress
certificate. It is absent when the ingress uses a publicly trusted (ACME) certificate.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

API_SERVER = "api_server"
CA_DATA = "ca_data"  # base64 of the PEM bundle, as kubeconfig's certificate-authority-data
PROXY_PATH = "/dkp/api-server"


def kommander_endpoints(kc: Mapping[str, Any] | None) -> dict[str, str]:
    """`api_server` once Kommander has published the ingress address, and `ca_data` with it."""
    ingress = ((kc or {}).get("status") or {}).get("ingress") or {}
    address = ingress.get("address")
    if not isinstance(address, str) or not address.strip():
        return {}
    host = address.strip().removeprefix("https://").rstrip("/")
    endpoints = {API_SERVER: f"https://{host}{PROXY_PATH}"}
    bundle = ingress.get("caBundle")
    if isinstance(bundle, str) and bundle:
        if _is_pem_data(bundle):
            endpoints[CA_DATA] = "".join(bundle.split())
        else:
            name = ((kc or {}).get("metadata") or {}).get("name", "?")
            logger.warning("KommanderCluster %s: status.ingress.caBundle is not base64 PEM", name)
    return endpoints


def _is_pem_data(value: str) -> bool:
    try:
        pem = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b"-----BEGIN CERTIFICATE-----" in pem
