"""The job leader's lease arithmetic and the signals `envbot serve` stops on (no database)."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from bot.leader import lock_connect_args
from bot.settings import JobSettings
from bot.shutdown import StopSignal


def _server_settings(lease: float) -> dict[str, int]:
    options = str(lock_connect_args(lease)["options"])
    return {k: int(v) for k, v in re.findall(r"-c (\w+)=(\d+)", options)}


@pytest.mark.parametrize("lease", [1.0, 2.0, 15.0, 30.0])
def test_the_server_drops_a_silent_holder_after_half_the_lease(lease: float) -> None:
    server = _server_settings(lease)
    assert server["idle_session_timeout"] == int(lease * 500)
    # the holder trusts a heartbeat for lease/3 < lease/2: it stops before the server frees the
    # lock; and a standby trying every lease/6 takes it within lease/2 + lease/6 < lease
    assert lease / 3 < server["idle_session_timeout"] / 1000
    assert server["idle_session_timeout"] / 1000 + lease / 6 < lease
    args = lock_connect_args(lease)
    assert args["keepalives"] == 1
    assert args["tcp_user_timeout"] == server["idle_session_timeout"]
    assert str(args["application_name"]).startswith("envbot-jobs-lock:")


def test_a_lease_under_one_second_is_refused_with_its_name() -> None:
    with pytest.raises(ValidationError, match="leader_lease"):
        JobSettings(leader_lease=0.5)
    assert JobSettings().leader_lease == 15.0


@pytest.fixture
def restore_handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.usefixtures("restore_handlers")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_ask_for_a_stop_instead_of_killing(sig: signal.Signals) -> None:
    stop = StopSignal()
    stop.install()
    assert not stop.requested
    os.kill(os.getpid(), sig)  # handled in this (the main) thread before kill returns to us
    assert stop.requested
    os.kill(os.getpid(), sig)  # a second one does not kill either: the drain goes on
    stop.wait()  # returns at once
