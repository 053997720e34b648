"""A real `kubernetes` client for the fake API server (kept in tests: bot/ never imports it)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from kubernetes import config

from bot.demo.kube.apiserver import FakeKubeApiServer


def api_client(fake: FakeKubeApiServer, context: str = "fake") -> Any:
    """A `kubernetes.client.ApiClient` loaded from a kubeconfig the fake writes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = fake.write_kubeconfig(Path(tmp) / "kubeconfig", context)
        return config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(path), context=context
        )
