"""Daily use over signed HTTP (issue 15, Users): one command grammar for `/env` and `/access`,
`--until` in the user's zone, reminders only for thresholds a lifetime really has, and buttons
on reminders and confirmations that act once, in place, with a confirm on every destructive one."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.db.models import AccessRequest, Environment, Event
from bot.demo.fake_slack_store import Message
from tests.scenario.conftest import buttons, message_text, wait_for
from tests.scenario.test_access import World, world  # noqa: F401  (the fixture)

GRANT_REMINDER = "ends in"
ENV_REMINDER = "will be deleted in"


def _count(w: World, model: type[AccessRequest] | type[Environment]) -> int:
    with w.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _env(w: World, name: str) -> Environment:
    with w.sessions() as s:
        return s.scalars(select(Environment).where(Environment.name == name)).one()


def _extends(w: World, object_id: str) -> int:
    return sum(1 for e in w.events(object_id) if e.action == "extend")


def _reminders(w: World, user: str, about: str, words: str) -> list[Message]:
    return [m for m in w.dm_messages(user) if about in m.text and words in m.text]


def _now_shown(w: World, msg: Message) -> Message:
    """The message as it reads now (after any in-place update)."""
    current = w.slack.message(msg.channel, msg.ts)
    assert current is not None
    return current


def _ready_env(w: World, text: str, name: str) -> Environment:
    w.http.ask("alice", "/env", f"create sandbox {name} {text}")
    w.jobs()
    w.advance(timedelta(minutes=30))
    env = _env(w, name)
    assert env.state == "READY"
    return env


# -- 1. one command grammar ----------------------------------------------------------------------


def test_extra_words_are_refused_by_name_on_both_commands(world: World) -> None:  # noqa: F811
    # execution
    env_answer = world.http.ask("alice", "/env", "create sandbox --ttl 2d for the demo")
    access_answer = world.http.ask("alice", "/access", "request sandbox view 1d read the logs")
    counts = (_count(world, Environment), _count(world, AccessRequest))
    world.http.ask("alice", "/env", "create sandbox words-env --reason try things")
    world.http.ask("alice", "/env", 'create sandbox quoted-env --ttl 2d "for the demo"')
    req_answer = world.http.ask("alice", "/access", "request sandbox view 1d --reason read logs")

    # validating: nothing was guessed or dropped
    said = 'I did not understand "{}": put a reason in quotes or after --reason'
    assert said.format("for the demo") in env_answer
    assert said.format("read the logs") in access_answer
    assert counts == (0, 0)
    assert _env(world, "words-env").reason == "try things"
    assert _env(world, "quoted-env").reason == "for the demo"
    assert "went to the owners" in req_answer
    with world.sessions() as s:
        assert s.scalars(select(AccessRequest.reason)).all() == ["read logs"]


def test_durations_in_words_say_what_to_write(world: World) -> None:  # noqa: F811
    # execution
    ttl = world.http.ask("alice", "/env", "create sandbox --ttl 3 days")
    grant = world.http.ask("alice", "/access", 'request sandbox view 2 hours "logs"')

    # validating
    assert '--ttl "3 days" is not a duration (write 3d)' in ttl
    assert '"2 hours" is not a duration (write 2h)' in grant
    assert (_count(world, Environment), _count(world, AccessRequest)) == (0, 0)


def test_until_is_read_in_the_users_slack_zone(world: World) -> None:  # noqa: F811
    # setup: Monday 09:00 UTC is 04:00 in New York
    world.slack.set_tz("alice", "America/New_York")

    # execution
    created = world.http.ask("alice", "/env", 'create sandbox until-env --until "fri 18:00"')
    past = world.http.ask("alice", "/env", 'create sandbox --until "today 03:00"')
    too_far = world.http.ask("alice", "/env", "create sandbox --until 2026-02-01")
    both = world.http.ask("alice", "/env", 'create sandbox --ttl 1d --until "fri 18:00"')
    grant = world.http.ask(
        "alice", "/access", 'request sandbox admin --until "today 12:00" "debug"'
    )
    over_role = world.http.ask(
        "alice", "/access", "request sandbox admin --until today 14:00 --reason debug"
    )
    no_role = world.http.ask("alice", "/access", 'request sandbox --until "fri 18:00" "x"')

    # validating: Friday 18:00 in New York is 23:00 UTC
    assert "Creating `until-env`" in created
    expires = _env(world, "until-env").expires_at.replace(tzinfo=UTC)
    assert expires == datetime(2026, 1, 9, 23, 0, tzinfo=UTC)
    assert '"today 03:00" is Mon 05 Jan 03:00 (America/New_York), which has passed' in past
    assert "past the sandbox template's maximum of 14d" in too_far
    assert "at most Mon 19 Jan 04:00 (America/New_York)" in too_far
    assert "give --ttl or --until, not both" in both
    assert "went to the owners" in grant
    with world.sessions() as s:
        assert s.scalars(select(AccessRequest.duration_s)).all() == [8 * 3600]
    assert "past the admin role's maximum of 8h" in over_role
    assert "--until needs the workspace and role first" in no_role
    assert _count(world, Environment) == 1


# -- 2. quiet, useful reminders ------------------------------------------------------------------


def test_a_2h_grant_gets_one_reminder_and_none_right_after_an_extend(
    world: World,  # noqa: F811
) -> None:
    # setup
    req_id = world.approved("alice", 'sandbox admin 2h "debug the ingress"')

    # execution: approval, then the 1h mark, then an extend right after it
    world.jobs()
    at_activation = len(_reminders(world, "alice", req_id, GRANT_REMINDER))
    world.skip_to(timedelta(hours=1, minutes=1))
    world.jobs()
    at_one_hour = _reminders(world, "alice", req_id, GRANT_REMINDER)
    answer = world.http.ask("alice", "/access", f"extend {req_id} 2h")
    world.jobs()
    after_extend = len(_reminders(world, "alice", req_id, GRANT_REMINDER))
    expires = world.req(req_id).expires_at
    assert expires is not None
    world.skip_to(expires - timedelta(minutes=59) - world.clock.now())
    world.jobs()
    later = _reminders(world, "alice", req_id, GRANT_REMINDER)

    # validating: no "ends in 24h" ever; the 1h one before and after the extend, not at it
    assert at_activation == 0
    assert len(at_one_hour) == 1
    assert "ends in 24h" not in at_one_hour[0].text
    assert f"Extended `{req_id}`" in answer
    assert after_extend == 1
    assert len(later) == 2
    assert not any("24h" in m.text for m in later)


def test_a_short_environment_gets_no_24h_reminder_when_ready(world: World) -> None:  # noqa: F811
    # setup / execution
    env = _ready_env(world, '--ttl 3h --reason "quick look"', "short-env")
    world.jobs()
    at_ready = len(_reminders(world, "alice", env.name, ENV_REMINDER))
    world.skip_to(env.expires_at.replace(tzinfo=UTC) - timedelta(minutes=59) - world.clock.now())
    world.jobs()
    at_one_hour = _reminders(world, "alice", env.name, ENV_REMINDER)

    # validating
    assert at_ready == 0
    assert len(at_one_hour) == 1
    assert "24h" not in at_one_hour[0].text


# -- 3. buttons that act once --------------------------------------------------------------------


def _grant_reminder(w: World) -> tuple[str, Message]:
    """A 2d view grant of alice's, at its 24h reminder."""
    req_id = w.approved("alice", 'sandbox view 2d "read the logs"')
    w.skip_to(timedelta(days=1, minutes=1))
    w.jobs()
    (reminder,) = _reminders(w, "alice", req_id, GRANT_REMINDER)
    return req_id, reminder


def test_extend_pressed_three_times_extends_once_and_the_dm_says_who(
    world: World,  # noqa: F811
) -> None:
    # setup
    req_id, reminder = _grant_reminder(world)
    expires = world.req(req_id).expires_at
    assert expires is not None

    # execution: three presses on the reminder as it was first shown (before any update)
    first = world.http.press("alice", reminder, "extend")
    second = world.http.press("alice", reminder, "extend")
    third = world.http.press("alice", reminder, "extend")
    shown = _now_shown(world, reminder)

    # validating: one extension, one audit row
    assert world.req(req_id).expires_at == expires + timedelta(days=1)
    assert _extends(world, req_id) == 1
    assert f"Extended `{req_id}`" in first
    alice = world.uid("alice")
    for again in (second, third):
        assert f"Already done by <@{alice}> at <!date^" in again
        assert "(Extend); this message's buttons act once" in again
    # validating: the DM keeps its words and the time, loses its buttons, says who did what
    assert shown.edited
    assert buttons(shown.blocks) == []
    text = message_text(shown.text, shown.blocks)
    assert reminder.text in text
    assert f"Extended `{req_id}`" in text
    assert f"<@{alice}>" in text


def test_concurrent_presses_extend_once(world: World) -> None:  # noqa: F811
    # setup
    req_id, reminder = _grant_reminder(world)
    (extend,) = [b for b in buttons(reminder.blocks) if b["action_id"] == "extend"]
    cursor = world.http.mark()

    # execution: three clicks at the same moment, each with its own action_ts
    def click(n: int) -> None:
        world.http.click("alice", reminder, extend, f"{world.clock.now().timestamp()}.0{n}")

    threads = [threading.Thread(target=click, args=(n,)) for n in range(1, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answers = wait_for(
        lambda: (got := world.http.answers_since(cursor, "alice", reminder)) and len(got) >= 3,
        what="three answers",
    )

    # validating
    assert answers
    assert _extends(world, req_id) == 1


def test_keep_as_is_keeps_the_time_shown(world: World) -> None:  # noqa: F811
    # setup
    req_id, reminder = _grant_reminder(world)
    expires = world.req(req_id).expires_at

    # execution
    kept = world.http.press("alice", reminder, "keep")
    again = world.http.press("alice", reminder, "extend")
    shown = _now_shown(world, reminder)

    # validating
    assert "Kept as is" in kept
    assert reminder.text in message_text(shown.text, shown.blocks)  # the end time stays
    assert buttons(shown.blocks) == []
    assert "(Keep as is)" in again
    assert world.req(req_id).expires_at == expires


def test_a_refused_press_leaves_the_buttons_usable(world: World) -> None:  # noqa: F811
    # setup: an 8h admin grant is at its cap, so Extend on its reminder is refused
    req_id = world.approved("alice", 'sandbox admin 8h "debug the ingress"')
    world.skip_to(timedelta(hours=7, minutes=1))
    world.jobs()
    (reminder,) = _reminders(world, "alice", req_id, GRANT_REMINDER)

    # execution
    refused = world.http.press("alice", reminder, "extend")
    still = _now_shown(world, reminder)
    revoked = world.http.press("alice", reminder, "revoke_now")
    world.jobs()

    # validating
    assert "capped" in refused or "at most" in refused
    assert [b["action_id"] for b in buttons(still.blocks)] == ["extend", "revoke_now", "keep"]
    assert f"Revoking `{req_id}`" in revoked
    assert world.req(req_id).state in ("REVOKING", "REVOKED")


def test_destructive_buttons_carry_a_confirm_and_delete_confirms_once(
    world: World,  # noqa: F811
) -> None:
    # setup: alice's sandbox at its 24h reminder, and a grant at its own
    env = _ready_env(world, '--ttl 2d --reason "demo"', "confirm-env")
    req_id, grant_reminder = _grant_reminder(world)
    (env_reminder,) = _reminders(world, "alice", env.name, ENV_REMINDER)
    alice = world.uid("alice")
    world.http.ask("alice", "/env", f"delete {env.name}")
    (confirm,) = [
        m
        for m in world.slack.visible_messages(alice)
        if m.ephemeral_to == alice and m.text.startswith(f"Delete {env.name}?")
    ]

    # execution
    deleting = world.http.press("alice", confirm, "delete_now")
    twice = world.http.press("alice", confirm, "delete_now")
    from_reminder = world.http.press("alice", env_reminder, "delete_now")
    world.jobs()

    # validating: every Delete now / Revoke now asks first
    destructive = [
        b
        for msg in (env_reminder, grant_reminder, confirm)
        for b in buttons(msg.blocks)
        if b["action_id"] in ("delete_now", "revoke_now")
    ]
    assert len(destructive) == 3
    for b in destructive:
        dialog = b["confirm"]
        assert dialog["title"]["text"].endswith("?")
        assert dialog["confirm"]["text"] in ("Delete", "Revoke")
        assert dialog["deny"]["text"] == "Keep it"
        assert dialog["style"] == "danger"
    # validating: the confirmation deleted once; later presses are told it is done
    assert f"Deleting `{env.name}`" in deleting
    assert f"Already done by <@{alice}>" in twice
    assert "is already being deleted" in from_reminder
    assert sum(1 for e in world.events(env.id) if e.to_state == "DELETING") == 1
    assert buttons(_now_shown(world, confirm).blocks) == []
    assert req_id  # the grant only supplied its reminder's buttons


def test_already_done_is_answered_to_whoever_presses(world: World) -> None:  # noqa: F811
    # setup
    req_id, reminder = _grant_reminder(world)
    world.http.press("alice", reminder, "extend")

    # execution: an owner presses the same DM's button afterwards
    later = world.http.press("bob", reminder, "revoke_now")

    # validating
    assert f"Already done by <@{world.uid('alice')}>" in later
    assert world.req(req_id).state == "ACTIVE"
    with world.sessions() as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(Event)
                .where(Event.object_id == req_id, Event.action == "extend")
            )
            == 1
        )
