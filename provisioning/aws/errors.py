"""Maps botocore errors to `TemporaryError` / `PermanentError`, with the SDK exception chained."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from bot.errors import BackendError, PermanentError, TemporaryError

T = TypeVar("T")

THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "PriorRequestNotComplete",
        "SlowDown",
    }
)
TEMPORARY = THROTTLED | {
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalError",
    "InternalFailure",
    "RequestTimeout",
    "RequestTimeoutException",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "IDPCommunicationError",
}
EXPIRED = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
# A delete refused because of something that goes away by itself (ENIs of a deleted LB).
RETRY_LATER = frozenset(
    {"DependencyViolation", "ResourceInUse", "IncorrectState", "VolumeInUse", "InvalidChangeBatch"}
)
# Already gone: another replica or an earlier pass deleted it (the tagging API lags).
GONE = frozenset(
    {
        "InvalidVolume.NotFound",
        "InvalidGroup.NotFound",
        "LoadBalancerNotFound",
        "AccessPointNotFound",
        "TargetGroupNotFound",
    }
)


def error_code(exc: ClientError) -> str:
    """Return the AWS error code of a ClientError ("" when the response has none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def cause_code(err: BaseException) -> str:
    """Return the AWS error code chained under a backend error ("" when not a ClientError)."""
    cause = err.__cause__
    return error_code(cause) if isinstance(cause, ClientError) else ""


def map_client_error(exc: ClientError, what: str) -> BackendError:
    """Translate a botocore ClientError into the backend error pair; the caller chains it.

    Throttling, 5xx and expired credentials are temporary; access denied, validation errors
    and any other 4xx are permanent.

    Args:
        exc: the error botocore raised.
        what: the call that failed, e.g. `route53:ListResourceRecordSets`, for the message.

    Returns:
        `TemporaryError` (with a longer `retry_after` when throttled) or `PermanentError`.
    """
    code = error_code(exc)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    text = str(exc.response.get("Error", {}).get("Message", "")) or str(exc)
    # a REST-XML service may answer 403 with a body botocore cannot parse: still access denied
    shown = code or ("AccessDenied" if status == 403 else str(status))
    message = f"AWS {what} failed ({shown}): {text}"
    if code in THROTTLED or status == 429:
        return TemporaryError(message, retry_after=60.0)
    if code in TEMPORARY or status >= 500:
        return TemporaryError(message)
    return PermanentError(message)


def call_aws(what: str, fn: Callable[[], T], on_expired: Callable[[], None]) -> T:
    """Run one AWS call, translating botocore errors; `on_expired` runs on expired credentials.

    Args:
        what: the call, e.g. `sts:AssumeRole`, for the error message.
        fn: the call itself.
        on_expired: forgets cached credentials so the next call assumes the role again.

    Raises:
        TemporaryError: throttled, 5xx, unreachable or expired credentials.
        PermanentError: any other client error, or no credentials at all.
    """
    try:
        return fn()
    except ClientError as exc:
        if error_code(exc) in EXPIRED:
            on_expired()
        raise map_client_error(exc, what) from exc
    except (BotoConnectionError, HTTPClientError) as exc:
        raise TemporaryError(f"AWS {what} failed: {exc}") from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise PermanentError(f"AWS {what} failed: {exc}") from exc
