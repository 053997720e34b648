"""The workspace role's assumed-role credentials, cached behind a lock and renewed near expiry;
or, for a workspace without `aws`, the bot's own credentials from boto3's default chain."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import boto3
from botocore.config import Config

from bot.policy.models import Aws
from provisioning.aws.errors import call_aws

if TYPE_CHECKING:
    from mypy_boto3_sts.client import STSClient

T = TypeVar("T")

SESSION_NAME = "envbot"
REFRESH_MARGIN = timedelta(minutes=5)  # assume the role again this long before expiry

CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30
)


class SessionFactory(Protocol):
    """Builds a boto3 Session (`boto3.Session`); tests pass a fake."""

    def __call__(
        self,
        *,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        region_name: str | None = None,
    ) -> boto3.Session: ...


@dataclass(frozen=True)
class Credentials:
    """Temporary credentials returned by `sts:AssumeRole`."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expires_at: datetime


def utcnow() -> datetime:
    """The default clock: the current time in UTC."""
    return datetime.now(UTC)


class AssumedRole:
    """Sessions acting as one workspace role, and the error-translating wrapper for AWS calls.

    Thread-safe: the assumed-role credentials are shared behind a lock and every call builds
    its own Session and clients.
    """

    def __init__(
        self,
        aws_settings: Aws | None,
        session_factory: SessionFactory = boto3.Session,
        endpoint_url: str | None = None,
        now: Callable[[], datetime] = utcnow,
        *,
        region: str = "",
    ) -> None:
        """Keep the role and region; no AWS call is made until `session` or `identity`.

        Args:
            aws_settings: the workspace's `aws`: the role to assume and the region. None: act
                as the bot itself (boto3's default credential chain) in `region`.
            session_factory: builds boto3 Sessions (tests pass a fake).
            endpoint_url: one endpoint for every client (moto's server in tests).
            now: the clock used for credential expiry.
            region: the region without `aws_settings` (the policy's `cleanup.region`).
        """
        if aws_settings is None and not region:
            raise ValueError("without a workspace role, a region is required (cleanup.region)")
        self._role_arn = aws_settings.role_arn if aws_settings else None
        self._region = aws_settings.region if aws_settings else region
        self._session_factory = session_factory
        self._endpoint_url = endpoint_url
        self._now = now
        self._lock = threading.Lock()
        self._credentials: Credentials | None = None

    @property
    def region(self) -> str:
        """The workspace's region."""
        return self._region

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint every client uses (None: AWS's own)."""
        return self._endpoint_url

    def identity(self) -> str:
        """Return the caller's ARN and the assumed workspace role's ARN.

        Raises:
            TemporaryError: STS unreachable, throttled or 5xx.
            PermanentError: the credentials or the role are refused.
        """
        base = self._session_factory(region_name=self._region)
        caller = self.call("sts:GetCallerIdentity", self._sts(base).get_caller_identity)
        if self._role_arn is None:
            return f"{caller['Arn']} (envbot's own identity, no role assumed)"
        assumed = self.call("sts:GetCallerIdentity", self._sts(self.session()).get_caller_identity)
        return f"{caller['Arn']} as {assumed['Arn']}"

    def session(self) -> boto3.Session:
        """A Session with the workspace role's credentials, assumed again near expiry (or the
        bot's own, from the default chain, for a workspace without a role)."""
        role_arn = self._role_arn
        if role_arn is None:
            return self._session_factory(region_name=self._region)
        with self._lock:
            creds = self._credentials
            if creds is None or creds.expires_at - REFRESH_MARGIN <= self._now():
                base = self._session_factory(region_name=self._region)
                answer = self.call(
                    "sts:AssumeRole",
                    lambda: self._sts(base).assume_role(
                        RoleArn=role_arn, RoleSessionName=SESSION_NAME
                    ),
                )
                raw = answer["Credentials"]
                creds = Credentials(
                    raw["AccessKeyId"],
                    raw["SecretAccessKey"],
                    raw["SessionToken"],
                    raw["Expiration"],
                )
                self._credentials = creds
        return self._session_factory(
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            region_name=self._region,
        )

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one AWS call, translating botocore errors (and forgetting expired credentials)."""
        return call_aws(what, fn, self._forget)

    def client(self, session: boto3.Session, service: str) -> Any:
        """A regional client of `session` for `service`, with retries and timeouts set."""
        return session.client(
            service,  # type: ignore[call-overload]
            region_name=self._region,
            endpoint_url=self._endpoint_url,
            config=CLIENT_CONFIG,
        )

    def _forget(self) -> None:
        self._credentials = None

    def _sts(self, session: boto3.Session) -> STSClient:
        return session.client(
            "sts",
            region_name=self._region,
            endpoint_url=self._endpoint_url,
            config=CLIENT_CONFIG,
        )
