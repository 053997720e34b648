"""Random faults the fake Kubernetes API server can inject, as a real one fails under load.

A `409` answers a write with a Conflict and does not apply it (as an update carrying a stale
resourceVersion is refused). A `500` is an InternalError, sent before the request is applied or
after it (as an etcd timeout can hide a write that did happen). A `timeout` holds the request
past the client's timeout and closes the connection without an answer, before or after applying
it. Reads get 500s and timeouts only; watches and health checks are never faulted.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.demo.kube.store import ApiError

if TYPE_CHECKING:
    from bot.demo.kube.http import Handler, RecordedRequest

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class KubeFault(StrEnum):
    """The kinds of random fault."""

    CONFLICT = "409"
    SERVER_ERROR = "500"
    TIMEOUT = "timeout"


ALL_KUBE_FAULTS = tuple(KubeFault)


@dataclass(frozen=True)
class Plan:
    """One fault to inject: its kind, and whether the request is applied first."""

    kind: KubeFault
    after: bool


@dataclass
class KubeFaultProfile:
    """Fail about `rate` of the requests with one of `kinds`; a timeout holds `hold` seconds."""

    rate: float
    seed: int = 0
    kinds: tuple[KubeFault, ...] = ALL_KUBE_FAULTS
    hold: float = 35.0  # past envbot's 30 s read timeout
    injected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be within 0..1, got {self.rate}")
        self._rng = random.Random(self.seed)  # noqa: S311 - a reproducible test fault, not a secret
        self._lock = threading.Lock()
        self._decks: dict[bool, list[Plan]] = {}  # plans left to draw, for writes and reads

    def pick(self, method: str) -> Plan | None:
        """A fault for this request, or None; counts what it injects (`500_after`, ...).

        Which fault is drawn from a seeded shuffle of every plan the request's kind allows
        (writes: each kind, before and after applying; reads: 500 and timeout), refilled when
        used up, so a run with a handful of faults has injected every one, whatever order the
        requests came in; a write's deck deals a hidden success first.
        """
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            write = method in WRITES
            deck = self._decks.setdefault(write, [])
            if not deck:
                deck.extend(self._plans(write))
                self._rng.shuffle(deck)
                # a hidden success (applied, then failed) first: a run with only a few write
                # faults, which thread timing can make, still has one
                after = [i for i, plan in enumerate(deck) if plan.after]
                if after:
                    deck.append(deck.pop(after[0]))
            if not deck:
                return None
            plan = deck.pop()
            label = plan.kind.value + ("_after" if plan.after else "")
            self.injected[label] = self.injected.get(label, 0) + 1
            return plan

    def _plans(self, write: bool) -> list[Plan]:
        """Every plan a write (or a read) may get."""
        plans = []
        for kind in self.kinds:
            if kind is KubeFault.CONFLICT:
                plans += [Plan(kind, False)] if write else []
            else:
                plans += [Plan(kind, False), Plan(kind, True)] if write else [Plan(kind, False)]
        return plans

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.injected.values())


def faultable(request: RecordedRequest) -> bool:
    """Whether a random fault may hit this request (not a watch, not a health check)."""
    parts = [p for p in request.path.split("/") if p]
    if not parts or parts[0] in ("healthz", "readyz", "livez", "version"):
        return False
    return "watch" not in parts and request.param("watch") not in ("true", "1")


def _conflict(handler: Handler, request: RecordedRequest) -> ApiError:
    """The Conflict a stale resourceVersion gets, worded as kube-apiserver words it."""
    parts = [p for p in request.path.split("/") if p]
    try:
        route = handler.fake.route(parts)
    except ApiError:
        route = None
    body = request.body if isinstance(request.body, dict) else {}
    name = (route.name if route else None) or str((body.get("metadata") or {}).get("name", ""))
    resource = route.rt.resource_id if route else parts[-1]
    details = {"name": name, "kind": route.rt.plural if route else parts[-1]}
    if route and route.rt.group:
        details["group"] = route.rt.group
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {resource} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        details=details,
    )


def inject(handler: Handler, plan: Plan, method: str, request: RecordedRequest) -> None:
    """Answer `request` with the fault `plan` names (applying it first when `plan.after`)."""
    if plan.kind is KubeFault.CONFLICT:
        handler._send_error(_conflict(handler, request))
        return
    if plan.after:
        handler.muted = True  # apply it; the client never sees the real answer
        try:
            handler._handle(method, request)
        except ApiError:
            pass  # the real answer (say, a 422) is hidden behind the fault as well
        finally:
            handler.muted = False
    if plan.kind is KubeFault.SERVER_ERROR:
        handler._send_error(
            ApiError(
                500,
                "InternalError",
                "Internal error occurred: etcdserver: request timed out (injected fault)",
                details={"causes": [{"message": "etcdserver: request timed out"}]},
            )
        )
        return
    profile = handler.fake.faults
    handler.fake._stopping.wait(profile.hold if profile else 0.0)
    handler.close_connection = True  # no answer: the client has given up waiting
