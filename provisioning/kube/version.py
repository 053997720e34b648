"""What a cluster's `/version` says about the features envbot relies on: the admission policy of
deploy/target-cluster/admission needs admissionregistration.k8s.io/v1, GA in Kubernetes 1.30."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

VAP_MINIMUM = (1, 30)

_GIT_VERSION = re.compile(r"v?(\d+)\.(\d+)")
_NUMBER = re.compile(r"\d+")


def parse_version(info: Mapping[str, Any]) -> tuple[int, int] | None:
    """(major, minor) from a `/version` answer, or None when it says neither.

    `gitVersion` (v1.28.9-eks-036c24b) is read first; `major`/`minor` are the fallback, where a
    vendor build writes the minor as "28+".
    """
    match = _GIT_VERSION.match(str(info.get("gitVersion") or ""))
    if match:
        return int(match.group(1)), int(match.group(2))
    major = _NUMBER.match(str(info.get("major") or ""))
    minor = _NUMBER.match(str(info.get("minor") or ""))
    if major and minor:
        return int(major.group()), int(minor.group())
    return None


def admission_policy_note(cluster: str, info: Mapping[str, Any]) -> str | None:
    """Why the admission policy cannot run on `cluster`, or None when it can."""
    shown = str(info.get("gitVersion") or f"{info.get('major')}.{info.get('minor')}")
    found = parse_version(info)
    if found is None:
        return (
            f"cannot tell the Kubernetes version of {cluster} from /version ({shown!r}); the "
            "admission policy needs Kubernetes >= 1.30"
        )
    if found < VAP_MINIMUM:
        return (
            f"the admission policy needs Kubernetes >= 1.30; {cluster} runs "
            f"v{found[0]}.{found[1]}: envbot's ownership checks still apply, but without the "
            "second fence"
        )
    return None
