"""moto's server on loopback for real boto3 calls, and IAM enforcement switched on in it.

With enforcement on, moto checks every request's signature and the caller's IAM policies, as AWS
does, and answers AccessDenied; `enforce_iam` creates the workspace role with a policy that
allows everything but the given actions, and a user allowed to assume it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

REGION = "us-west-2"
ACCOUNT = "123456789012"
ROLE_NAME = "envbot"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
BASE_USER = f"arn:aws:iam::{ACCOUNT}:user/envbot-base"


def start_moto() -> tuple[ThreadedMotoServer, str]:
    """moto's server on a free loopback port, and its URL. One serves a whole test run: its
    `stop()` waits out a 0.5 s poll, and its backends are process-wide anyway."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    assert server._server is not None
    return server, f"http://127.0.0.1:{server._server.server_port}"


@contextmanager
def moto_account(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str) -> Iterator[str]:
    """The moto server at `url` emptied before and after, with fake credentials in the
    environment: each test starts from, and leaves, an empty account with IAM not enforced."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    _auth(url, "inf")
    requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
    try:
        yield url
    finally:
        _auth(url, "inf")
        requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()


def client(url: str, service: str) -> Any:
    """A boto3 client of moto's server (as the test's admin)."""
    return boto3.client(service, region_name=REGION, endpoint_url=url)  # type: ignore[call-overload]


def _auth(url: str, count: str) -> None:
    requests.post(f"{url}/moto-api/reset-auth", data=count.encode(), timeout=10).raise_for_status()


def enforce_iam(url: str, monkeypatch: pytest.MonkeyPatch, deny: Sequence[str]) -> None:
    """From now on moto enforces IAM: the role `envbot` may do anything but `deny`.

    The process's credentials become those of a user that may only assume the role, so every
    call the cleaner makes goes through the role's policy.
    """
    iam = client(url, "iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": BASE_USER}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": list(deny), "Resource": "*"},
        ],
    }
    iam.put_role_policy(RoleName=ROLE_NAME, PolicyName="cleanup", PolicyDocument=json.dumps(policy))
    iam.create_user(UserName="envbot-base")
    assume = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
    }
    iam.put_user_policy(
        UserName="envbot-base", PolicyName="assume", PolicyDocument=json.dumps(assume)
    )
    key = iam.create_access_key(UserName="envbot-base")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    _auth(url, "0")


def stop_enforcing(url: str) -> None:
    """moto stops checking IAM (the test reads what is left as its admin)."""
    _auth(url, "inf")
