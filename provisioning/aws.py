"""boto3 adapter (the only module importing boto3): AWS identity and the cleanup after a cluster.

`AwsCleaner` assumes the workspace role, then removes what `dkp delete cluster` leaves behind:
Route53 records that external-dns created for the cluster, and resources still tagged for it
(`kubernetes.io/cluster/<name>`, `sigs.k8s.io/cluster-api-provider-aws/cluster/<name>`).
Botocore errors become `TemporaryError` / `PermanentError` with the SDK exception chained.

Route53 ownership rule (conservative; anything else is left alone):

1. A registry TXT record is one whose name starts with `dns.txt_prefix` (optionally followed
   by the new-format `a-` / `aaaa-` / `cname-`) and whose value has `heritage=external-dns` and
   exactly `external-dns/owner=<dns.txt_owner_id>`. It owns the A/AAAA/CNAME records at the
   name without the prefix. DKP runs every external-dns with the same owner id ("kommander"),
   so the owner alone does not say which cluster a record was for.
2. The TXT and the records it owns are deleted together only with evidence for this cluster:
   the owned record points at a load balancer tagged for the cluster, or the cluster name is a
   whole DNS label of the owned name (`*.sandbox-alice-7k2q.example.com`), or a whole path
   segment of the TXT's `external-dns/resource=` value.
3. A registry record that mentions the cluster name only as part of a label or segment
   (`sandbox-alice-7k2q-old.example.com`) is reported, never deleted: a person decides.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from bot.errors import BackendError, PermanentError, TemporaryError
from bot.policy.models import Aws, Cleanup, Dns, Policy
from provisioning.cloud import (
    Action,
    CleanupItem,
    CleanupReport,
    CloudCleaner,
    PerWorkspaceCloud,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_elbv2.client import ElasticLoadBalancingv2Client
    from mypy_boto3_route53.client import Route53Client
    from mypy_boto3_route53.type_defs import ChangeTypeDef, ResourceRecordSetOutputTypeDef
    from mypy_boto3_sts.client import STSClient

logger = logging.getLogger(__name__)

T = TypeVar("T")

SESSION_NAME = "envbot"
REFRESH_MARGIN = timedelta(minutes=5)  # assume the role again this long before expiry
CLUSTER_TAG = "kubernetes.io/cluster/{}"
CAPA_TAG = "sigs.k8s.io/cluster-api-provider-aws/cluster/{}"
LOAD_BALANCER = "elasticloadbalancing:loadbalancer"
TARGET_GROUP = "elasticloadbalancing:targetgroup"
VOLUME = "ec2:volume"
SECURITY_GROUP = "ec2:security-group"
# Load balancers go first: their network interfaces hold the security groups.
DELETE_ORDER = (LOAD_BALANCER, TARGET_GROUP, VOLUME, SECURITY_GROUP)

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30
)
_OWNED_TYPES = frozenset({"A", "AAAA", "CNAME"})
_NEW_FORMAT = re.compile(r"(a|aaaa|cname)-(.+)")

_THROTTLED = frozenset(
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
_TEMPORARY = _THROTTLED | {
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
_EXPIRED = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
# A delete refused because of something that goes away by itself (ENIs of a deleted LB).
_RETRY_LATER = frozenset(
    {"DependencyViolation", "ResourceInUse", "IncorrectState", "VolumeInUse", "InvalidChangeBatch"}
)
# Already gone: another replica or an earlier pass deleted it (the tagging API lags).
_GONE = frozenset(
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
    message = f"AWS {what} failed ({code or status}): {text}"
    if code in _THROTTLED or status == 429:
        return TemporaryError(message, retry_after=60.0)
    if code in _TEMPORARY or status >= 500:
        return TemporaryError(message)
    return PermanentError(message)


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


class _ClassicElb(Protocol):
    """The two classic ELB calls used here (boto3-stubs `elb` is not installed)."""

    def describe_load_balancers(self, *, LoadBalancerNames: list[str]) -> Mapping[str, Any]: ...

    def delete_load_balancer(self, *, LoadBalancerName: str) -> object: ...


@dataclass(frozen=True)
class _Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expires_at: datetime


@dataclass(frozen=True)
class _Tagged:
    """A resource tagged for the cluster: its ARN, `<service>:<type>` and tag value."""

    arn: str
    kind: str
    ownership: str  # "owned" or "shared"

    @property
    def resource(self) -> str:
        """The ARN's resource part, e.g. `volume/vol-123` or `loadbalancer/app/x/1`."""
        return self.arn.split(":", 5)[5]

    @property
    def short_id(self) -> str:
        """The last path element of the resource: a volume, group or classic ELB name."""
        return self.resource.rsplit("/", 1)[-1]


@dataclass
class _Ownership:
    """One external-dns name: its registry TXT records and the records they own."""

    name: str
    txts: list[ResourceRecordSetOutputTypeDef] = field(default_factory=list)
    records: list[ResourceRecordSetOutputTypeDef] = field(default_factory=list)
    resources: set[str] = field(default_factory=set)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _normalize(name: str) -> str:
    """Lowercase, trailing dot, and Route53's `\\052` back to `*`."""
    name = name.replace("\\052", "*").lower()
    return name if name.endswith(".") else f"{name}."


def _display(name: str) -> str:
    return name.removesuffix(".")


def kind_of(arn: str) -> str:
    """Return `<service>:<resource-type>` of an ARN, as `policy.cleanup.delete` spells it.

    Examples: `ec2:volume`, `elasticloadbalancing:loadbalancer`, `s3:bucket`, `iam:role`.
    """
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return f"unknown:{arn}"
    service, resource = parts[2], parts[5]
    if "/" not in resource and ":" not in resource:
        return f"{service}:bucket" if service == "s3" else f"{service}:{resource}"
    return f"{service}:{re.split(r'[/:]', resource, maxsplit=1)[0]}"


def _txt_fields(record: ResourceRecordSetOutputTypeDef) -> dict[str, str]:
    text = "".join(
        part
        for value in record.get("ResourceRecords", [])
        for part in re.findall(r'"((?:[^"\\]|\\.)*)"', value["Value"]) or [value["Value"]]
    )
    fields: dict[str, str] = {}
    for pair in text.split(","):
        key, sep, val = pair.partition("=")
        if sep:
            fields[key.strip()] = val.strip()
    return fields


def _target(record: ResourceRecordSetOutputTypeDef) -> str:
    """Where an A/AAAA/CNAME points, normalized like a load balancer DNS name."""
    if "AliasTarget" in record:
        value = record["AliasTarget"]["DNSName"]
    else:
        values = record.get("ResourceRecords", [])
        value = values[0]["Value"] if values else ""
    return value.lower().removesuffix(".").removeprefix("dualstack.")


def _ownerships(
    records: Sequence[ResourceRecordSetOutputTypeDef], prefix: str, owner_id: str
) -> list[_Ownership]:
    """Group a zone's records by the name each external-dns registry TXT owns (rule 1)."""
    by_name: dict[str, list[ResourceRecordSetOutputTypeDef]] = {}
    for record in records:
        if record["Type"] in _OWNED_TYPES:
            by_name.setdefault(_normalize(record["Name"]), []).append(record)
    groups: dict[str, _Ownership] = {}
    prefix = prefix.lower()
    for record in records:
        name = _normalize(record["Name"])
        if record["Type"] != "TXT" or not name.startswith(prefix):
            continue
        fields = _txt_fields(record)
        if fields.get("heritage") != "external-dns" or fields.get("external-dns/owner") != owner_id:
            continue
        rest = name[len(prefix) :]
        candidates: list[tuple[str, frozenset[str]]] = []
        if match := _NEW_FORMAT.fullmatch(rest):
            candidates.append((match.group(2), frozenset({match.group(1).upper()})))
        candidates.append((rest, _OWNED_TYPES))
        owned, types = next(
            (
                (cand, kinds)
                for cand, kinds in candidates
                if any(r["Type"] in kinds for r in by_name.get(cand, []))
            ),
            candidates[0],
        )
        group = groups.setdefault(owned, _Ownership(owned))
        group.txts.append(record)
        if resource := fields.get("external-dns/resource"):
            group.resources.add(resource.lower())
        for target in by_name.get(owned, []):
            if target["Type"] in types and target not in group.records:
                group.records.append(target)
    return list(groups.values())


def _evidence(group: _Ownership, cluster: str, lb_dns: set[str]) -> str:
    """Why `group` belongs to `cluster` (rule 2), or "" when there is no such evidence."""
    for record in group.records:
        if _target(record) in lb_dns:
            return f"points at a load balancer tagged for {cluster}"
    if cluster in group.name.removesuffix(".").split("."):
        return f"{cluster} is a label of the name"
    for resource in sorted(group.resources):
        if cluster in resource.split("/"):
            return f"external-dns resource {resource}"
    return ""


def _mentions(group: _Ownership, cluster: str) -> bool:
    return cluster in group.name or any(cluster in res for res in group.resources)


class AwsCleaner:
    """Cleans one workspace's AWS account with boto3, acting as the workspace role.

    Thread-safe: the assumed-role credentials are shared behind a lock and every call builds
    its own Session and clients.
    """

    def __init__(
        self,
        policy_dns: Dns | None,
        policy_cleanup: Cleanup,
        aws_settings: Aws,
        session_factory: SessionFactory = boto3.Session,
        endpoint_url: str | None = None,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        """Keep the policy facts; no AWS call is made until `identity` or `cleanup`.

        Args:
            policy_dns: `policy.dns`; None skips the Route53 part.
            policy_cleanup: `policy.cleanup`: the `<service>:<type>` kinds that may be deleted.
            aws_settings: the workspace's `aws`: the role to assume and the region.
            session_factory: builds boto3 Sessions (tests pass a fake).
            endpoint_url: one endpoint for every client (moto's server in tests).
            now: the clock used for credential expiry.
        """
        self._dns = policy_dns
        self._delete = frozenset(policy_cleanup.delete)
        self._aws = aws_settings
        self._session_factory = session_factory
        self._endpoint_url = endpoint_url
        self._now = now
        self._lock = threading.Lock()
        self._credentials: _Credentials | None = None

    # -- identity and credentials ------------------------------------------------------------

    def identity(self) -> str:
        """Return the caller's ARN and the assumed workspace role's ARN.

        Raises:
            TemporaryError: STS unreachable, throttled or 5xx.
            PermanentError: the credentials or the role are refused.
        """
        base = self._session_factory(region_name=self._aws.region)
        caller = self._call("sts:GetCallerIdentity", self._sts(base).get_caller_identity)
        assumed = self._call(
            "sts:GetCallerIdentity", self._sts(self._session()).get_caller_identity
        )
        return f"{caller['Arn']} as {assumed['Arn']}"

    def _sts(self, session: boto3.Session) -> STSClient:
        return session.client(
            "sts",
            region_name=self._aws.region,
            endpoint_url=self._endpoint_url,
            config=_CLIENT_CONFIG,
        )

    def _session(self) -> boto3.Session:
        """A Session with the workspace role's credentials, assumed again near expiry."""
        with self._lock:
            creds = self._credentials
            if creds is None or creds.expires_at - REFRESH_MARGIN <= self._now():
                base = self._session_factory(region_name=self._aws.region)
                answer = self._call(
                    "sts:AssumeRole",
                    lambda: self._sts(base).assume_role(
                        RoleArn=self._aws.role_arn, RoleSessionName=SESSION_NAME
                    ),
                )
                raw = answer["Credentials"]
                creds = _Credentials(
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
            region_name=self._aws.region,
        )

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one AWS call, translating botocore errors (and forgetting expired credentials)."""
        try:
            return fn()
        except ClientError as exc:
            if error_code(exc) in _EXPIRED:
                self._credentials = None
            raise map_client_error(exc, what) from exc
        except (BotoConnectionError, HTTPClientError) as exc:
            raise TemporaryError(f"AWS {what} failed: {exc}") from exc
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise PermanentError(f"AWS {what} failed: {exc}") from exc

    # -- cleanup ----------------------------------------------------------------------------

    def cleanup(self, cluster_name: str, workspace: str) -> CleanupReport:
        """Delete the cluster's external-dns records and tagged resources; report the rest.

        Args:
            cluster_name: the Cluster API cluster name.
            workspace: the workspace, for the logs.

        Returns:
            DNS items first, then tagged resources in delete order; empty when nothing is left.

        Raises:
            TemporaryError: throttled, 5xx, unreachable or expired credentials; run it again.
            PermanentError: access denied or invalid configuration.
        """
        session = self._session()
        tagged = self._tagged(session, cluster_name)
        items: list[CleanupItem] = []
        if self._dns is not None:
            lb_dns = self._load_balancer_dns_names(session, tagged)
            items.extend(self._clean_dns(session, self._dns, cluster_name.lower(), lb_dns))
        items.extend(self._clean_tagged(session, tagged))
        report = CleanupReport(tuple(items))
        logger.info(
            "cloud cleanup of %s: %d deleted, %d reported, %d failed",
            cluster_name,
            len(report.by_action("deleted")),
            len(report.by_action("reported")),
            len(report.by_action("failed")),
            extra={"backend": "aws", "workspace": workspace, "cluster": cluster_name},
        )
        return report

    def _client(self, session: boto3.Session, service: str) -> Any:
        return session.client(
            service,  # type: ignore[call-overload]
            region_name=self._aws.region,
            endpoint_url=self._endpoint_url,
            config=_CLIENT_CONFIG,
        )

    def _tagged(self, session: boto3.Session, cluster: str) -> list[_Tagged]:
        """Every resource tagged for the cluster by the cloud provider or by CAPA."""
        tagging = session.client(
            "resourcegroupstaggingapi",
            region_name=self._aws.region,
            endpoint_url=self._endpoint_url,
            config=_CLIENT_CONFIG,
        )
        keys = {CLUSTER_TAG.format(cluster): ["owned", "shared"], CAPA_TAG.format(cluster): []}
        found: dict[str, _Tagged] = {}

        def scan(key: str, values: list[str]) -> list[tuple[str, str]]:
            flt = {"Key": key, "Values": values} if values else {"Key": key}
            pages = tagging.get_paginator("get_resources").paginate(TagFilters=[flt])  # type: ignore[list-item]
            return [
                (mapping["ResourceARN"], tag["Value"])
                for page in pages
                for mapping in page["ResourceTagMappingList"]
                for tag in mapping.get("Tags", [])
                if tag["Key"] == key
            ]

        for key, values in keys.items():
            for arn, value in self._call("tag:GetResources", partial(scan, key, values)):
                ownership = "owned" if value == "owned" else "shared"
                old = found.get(arn)
                if old is None or (ownership == "owned" and old.ownership != "owned"):
                    found[arn] = _Tagged(arn, kind_of(arn), ownership)
        order = {kind: i for i, kind in enumerate(DELETE_ORDER)}
        return sorted(found.values(), key=lambda t: (order.get(t.kind, len(order)), t.arn))

    def _load_balancer_dns_names(
        self, session: boto3.Session, tagged: Iterable[_Tagged]
    ) -> set[str]:
        """DNS names of the cluster's load balancers: evidence for the records pointing at them."""
        names: set[str] = set()
        for item in tagged:
            if item.kind != LOAD_BALANCER:
                continue
            try:
                if _is_elbv2(item):
                    elbv2: ElasticLoadBalancingv2Client = self._client(session, "elbv2")
                    lbs = self._call(
                        "elbv2:DescribeLoadBalancers",
                        partial(elbv2.describe_load_balancers, LoadBalancerArns=[item.arn]),
                    )
                    names.update(lb["DNSName"].lower() for lb in lbs["LoadBalancers"])
                else:
                    elb = cast(_ClassicElb, self._client(session, "elb"))
                    answer = self._call(
                        "elb:DescribeLoadBalancers",
                        partial(elb.describe_load_balancers, LoadBalancerNames=[item.short_id]),
                    )
                    names.update(
                        str(lb["DNSName"]).lower() for lb in answer["LoadBalancerDescriptions"]
                    )
            except PermanentError as err:
                if (
                    not isinstance(err.__cause__, ClientError)
                    or error_code(err.__cause__) not in _GONE
                ):
                    raise
        return names

    def _clean_dns(
        self, session: boto3.Session, dns: Dns, cluster: str, lb_dns: set[str]
    ) -> Iterator[CleanupItem]:
        route53: Route53Client = session.client(
            "route53", endpoint_url=self._endpoint_url, config=_CLIENT_CONFIG
        )
        for zone in dns.zones:
            zone_id = zone.removeprefix("/hostedzone/")

            def records(zone_id: str = zone_id) -> list[ResourceRecordSetOutputTypeDef]:
                pages = route53.get_paginator("list_resource_record_sets").paginate(
                    HostedZoneId=zone_id
                )
                return [record for page in pages for record in page["ResourceRecordSets"]]

            listed = self._call("route53:ListResourceRecordSets", records)
            for group in _ownerships(listed, dns.txt_prefix, dns.txt_owner_id):
                evidence = _evidence(group, cluster, lb_dns)
                if evidence:
                    yield from self._delete_records(route53, zone_id, group, evidence)
                elif _mentions(group, cluster):
                    for record in group.records + group.txts:
                        yield CleanupItem(
                            f"route53:{record['Type']}",
                            _display(record["Name"]),
                            "reported",
                            f"external-dns record mentions {cluster} only in part of a name; "
                            "check it by hand",
                        )

    def _delete_records(
        self, route53: Route53Client, zone_id: str, group: _Ownership, evidence: str
    ) -> Iterator[CleanupItem]:
        """Delete the owned records and their TXT in one atomic change batch."""
        batch = group.records + group.txts
        changes: list[ChangeTypeDef] = [
            {"Action": "DELETE", "ResourceRecordSet": record} for record in batch
        ]
        action: Action = "deleted"
        detail = f"external-dns record: {evidence}"
        try:
            self._call(
                "route53:ChangeResourceRecordSets",
                lambda: route53.change_resource_record_sets(
                    HostedZoneId=zone_id,
                    ChangeBatch={"Comment": "envbot cloud cleanup", "Changes": changes},
                ),
            )
        except PermanentError as err:
            if (
                not isinstance(err.__cause__, ClientError)
                or error_code(err.__cause__) != "InvalidChangeBatch"
            ):
                raise
            action, detail = "failed", f"records changed meanwhile, retried next time: {err}"
        for record in batch:
            yield CleanupItem(f"route53:{record['Type']}", _display(record["Name"]), action, detail)

    def _clean_tagged(
        self, session: boto3.Session, tagged: Sequence[_Tagged]
    ) -> Iterator[CleanupItem]:
        for item in tagged:
            if item.ownership != "owned":
                yield CleanupItem(
                    item.kind, item.arn, "reported", "tagged shared with other clusters"
                )
            elif item.kind not in self._delete:
                yield CleanupItem(
                    item.kind, item.arn, "reported", f"{item.kind} is not in cleanup.delete"
                )
            elif item.kind not in DELETE_ORDER:
                yield CleanupItem(
                    item.kind, item.arn, "reported", f"envbot cannot delete {item.kind}"
                )
            else:
                result = self._delete_one(session, item)
                if result is not None:
                    yield result

    def _delete_one(self, session: boto3.Session, item: _Tagged) -> CleanupItem | None:
        """Delete one owned resource; None when it was already gone."""
        try:
            if item.kind == VOLUME:
                return self._delete_volume(session, item)
            if item.kind == SECURITY_GROUP:
                ec2: EC2Client = self._client(session, "ec2")
                self._call(
                    "ec2:DeleteSecurityGroup",
                    lambda: ec2.delete_security_group(GroupId=item.short_id),
                )
            elif item.kind == TARGET_GROUP:
                elbv2: ElasticLoadBalancingv2Client = self._client(session, "elbv2")
                self._call(
                    "elbv2:DeleteTargetGroup",
                    lambda: elbv2.delete_target_group(TargetGroupArn=item.arn),
                )
            elif _is_elbv2(item):
                elbv2 = self._client(session, "elbv2")
                self._call(
                    "elbv2:DeleteLoadBalancer",
                    lambda: elbv2.delete_load_balancer(LoadBalancerArn=item.arn),
                )
            else:
                elb = cast(_ClassicElb, self._client(session, "elb"))
                self._call(
                    "elb:DeleteLoadBalancer",
                    lambda: elb.delete_load_balancer(LoadBalancerName=item.short_id),
                )
        except PermanentError as err:
            code = error_code(err.__cause__) if isinstance(err.__cause__, ClientError) else ""
            if code in _GONE:
                return None
            if code in _RETRY_LATER:
                return CleanupItem(item.kind, item.arn, "failed", f"{code}, will retry: {err}")
            raise
        return CleanupItem(item.kind, item.arn, "deleted", "tagged owned")

    def _delete_volume(self, session: boto3.Session, item: _Tagged) -> CleanupItem | None:
        ec2: EC2Client = self._client(session, "ec2")
        volumes = self._call(
            "ec2:DescribeVolumes", lambda: ec2.describe_volumes(VolumeIds=[item.short_id])
        )["Volumes"]
        if not volumes:
            return None
        state = volumes[0]["State"]
        if state != "available":
            attached = ", ".join(a["InstanceId"] for a in volumes[0].get("Attachments", []))
            detail = f"volume is {state}" + (f" (attached to {attached})" if attached else "")
            return CleanupItem(item.kind, item.arn, "reported", detail)
        self._call("ec2:DeleteVolume", lambda: ec2.delete_volume(VolumeId=item.short_id))
        return CleanupItem(item.kind, item.arn, "deleted", "tagged owned, detached")


def _is_elbv2(item: _Tagged) -> bool:
    return item.resource.startswith(("loadbalancer/app/", "loadbalancer/net/", "loadbalancer/gwy/"))


def build_cloud_cleaner(
    policy: Policy,
    session_factory: SessionFactory = boto3.Session,
    endpoint_url: str | None = None,
) -> CloudCleaner:
    """Build one cleaner for the whole policy: an `AwsCleaner` per workspace with `aws`.

    Workspaces without `aws` get `NoCloud`. This is what the composition root hands to the
    services as a `CloudCleaner`.

    Args:
        policy: the loaded policy.
        session_factory: builds boto3 Sessions.
        endpoint_url: one endpoint for every client (tests).
    """
    return PerWorkspaceCloud(
        {
            name: AwsCleaner(policy.dns, policy.cleanup, ws.aws, session_factory, endpoint_url)
            for name, ws in policy.workspaces.items()
            if ws.aws is not None
        }
    )
