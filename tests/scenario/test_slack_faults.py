"""Slack faults are temporary: a lookup or views.open that fails once is retried, one that keeps
failing asks the user to retry, and a reminders run goes on past a user Slack cannot look up."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.db.models import AccessRequest, Environment
from tests.scenario.conftest import REQUEST_ID, buttons, wait_for
from tests.scenario.test_access import World, world  # noqa: F401  (the fixture)

RETRY = "Slack did not answer. Please try again in a minute."


def _count(w: World, model: type[AccessRequest] | type[Environment]) -> int:
    with w.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _statuses(w: World, method: str) -> list[int]:
    return [c.status for c in w.slack.calls_to(method)]


def test_access_request_survives_one_users_info_500(world: World) -> None:  # noqa: F811
    # setup
    world.slack.clear_calls()
    world.slack.fail_next("users.info", status=500)

    # execution
    answer = world.http.ask("alice", "/access", 'request sandbox admin 4h "debug the ingress"')

    # validating: the lookup was retried once and the request exists
    assert "Something went wrong" not in answer
    found = REQUEST_ID.search(answer)
    assert found, answer
    assert world.req(found.group(1)).state == "PENDING"
    assert _statuses(world, "users.info")[:2] == [500, 200]


def test_env_create_survives_one_users_info_500(world: World) -> None:  # noqa: F811
    # setup
    world.slack.clear_calls()
    world.slack.fail_next("users.info", status=500)

    # execution
    answer = world.http.ask("alice", "/env", "create sandbox hiccup")

    # validating
    assert "Something went wrong" not in answer
    assert _count(world, Environment) == 1
    assert _statuses(world, "users.info")[:2] == [500, 200]


def test_users_info_that_keeps_failing_asks_to_retry(world: World) -> None:  # noqa: F811
    # setup: 5xx twice (the retry fails too), then a 429 asking for longer than a listener waits
    world.slack.fail_next("users.info", status=503, count=2)

    # execution
    env_answer = world.http.ask("alice", "/env", "create sandbox hiccup")
    world.slack.fail_next("users.info", status=429, retry_after=30)
    access_answer = world.http.ask("alice", "/access", 'request sandbox admin 4h "debug it"')

    # validating: told to retry, not "Something went wrong", and nothing was created
    assert env_answer == RETRY
    assert access_answer == RETRY
    assert _count(world, Environment) == 0
    assert _count(world, AccessRequest) == 0


def test_reminders_go_on_past_a_rate_limited_user(world: World) -> None:  # noqa: F811
    # setup: two 2d grants, then the clock just past both 24h reminder thresholds
    alice_req = world.approved("alice", 'sandbox view 2d "read the logs"')
    dave_req = world.approved("dave", 'sandbox view 2d "read the logs too"')
    latest = max(world.req(r).expires_at or world.clock.now() for r in (alice_req, dave_req))
    world.clock.set(latest - timedelta(hours=24) + timedelta(minutes=1))
    (reminders,) = [j for j in world.runtime.jobs.jobs if j.name == "reminders"]
    world.slack.clear_calls()
    world.slack.fail_next("users.info", status=429, retry_after=30)

    def reminded(user: str, req_id: str) -> int:
        return len([m for m in world.dm_messages(user) if req_id in m.text and "ends in" in m.text])

    # execution
    first_pass = reminders.run()
    world.jobs()  # drains the queued DM; a later reminders pass retries the skipped user

    # validating: the 429 skipped one user, the other was queued, and both got one reminder
    assert _statuses(world, "users.info")[0] == 429
    assert first_pass == 1
    assert reminded("alice", alice_req) == 1
    assert reminded("dave", dave_req) == 1


def test_views_open_failing_once_then_opens(world: World) -> None:  # noqa: F811
    # setup
    req_id = world.request("alice", 'sandbox admin 4h "debug the ingress"')
    (deny,) = [b for b in buttons(world.card(req_id).blocks) if b["action_id"] == "deny"]
    world.slack.clear_calls()
    world.slack.fail_next("views.open", status=500)

    # execution
    assert world.http.click("bob", world.card(req_id), deny).status_code == 200
    view = world.modal("bob", "deny_reason")

    # validating
    assert view.view["callback_id"] == "deny_reason"
    assert _statuses(world, "views.open") == [500, 200]


def test_views_open_failing_twice_asks_to_run_again(world: World) -> None:  # noqa: F811
    # setup
    req_id = world.request("alice", 'sandbox admin 4h "debug the ingress"')
    world.slack.fail_next("views.open", status=502, count=2)

    # execution
    answer = world.http.press("bob", world.card(req_id), "deny")

    # validating
    assert "Slack did not open the form in time" in answer
    assert "Something went wrong" not in answer
    assert world.slack.open_modals("bob") == []
    assert wait_for(lambda: world.req(req_id).state == "PENDING", what="still pending")
