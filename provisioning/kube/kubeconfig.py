"""Which kubeconfig envbot reads, as kubectl chooses it: `ENVBOT_KUBECONFIG` if set, else the
files `$KUBECONFIG` lists, else `~/.kube/config`; with none of them, the pod's in-cluster
ServiceAccount (kubectl's fallback too). No Kubernetes SDK here: only paths."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import yaml

DEFAULT = Path(".kube") / "config"


def kubeconfig_source(
    explicit: str | None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> str | None:
    """The kubeconfig to load (several files joined by `os.pathsep`, merged as kubectl merges
    them), or None for the in-cluster config.

    Args:
        explicit: `ENVBOT_KUBECONFIG`; it wins when set.
        environ: the environment (`os.environ`).
        home: the home directory (`Path.home()`).
    """
    if explicit:
        return explicit
    env = os.environ if environ is None else environ
    listed = env.get("KUBECONFIG", "")
    if listed:
        # As kubectl: $KUBECONFIG replaces ~/.kube/config, and files it lists that do not exist
        # are skipped.
        found = [p for p in listed.split(os.pathsep) if p and Path(p).expanduser().is_file()]
        return os.pathsep.join(found) or None
    default = (Path.home() if home is None else home) / DEFAULT
    return str(default) if default.is_file() else None


def current_context(source: str) -> str | None:
    """The `current-context` of the first listed file that sets one, as kubectl merges them
    (the Python client lets the last file win: kubernetes-client/python#2386).

    Unreadable files are left to the client, which names them in its error.
    """
    for path in source.split(os.pathsep):
        try:
            config = yaml.safe_load(Path(path).expanduser().read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(config, dict) and config.get("current-context"):
            return str(config["current-context"])
    return None


def searched(environ: Mapping[str, str] | None = None) -> str:
    """Where `kubeconfig_source` looked, for an error that found nothing."""
    env = os.environ if environ is None else environ
    listed = env.get("KUBECONFIG", "")
    where = (
        f"$KUBECONFIG ({listed}) lists no existing file" if listed else "~/.kube/config is absent"
    )
    return f"ENVBOT_KUBECONFIG is unset and {where}"
