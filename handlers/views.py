"""Modal submissions: the access request and break-glass forms and the deny reason; field errors
stay in the form (answered in the ack), the rest is recorded and handed on."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.errors import UserError
from bot.services.container import Services
from bot.slack.blocks import CallbackId
from handlers.actions import router
from handlers.intake import Intake, delivery_key


def _values(view: dict[str, Any]) -> dict[str, str]:
    """Field name (the block_id) -> submitted value, for text inputs and static selects."""
    out: dict[str, str] = {}
    # The edge (`handlers.shape`) has checked these are objects; Socket Mode bodies come from
    # Slack itself, so a missing level is treated as an empty form rather than trusted.
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    if not isinstance(values, dict):
        return out
    for block_id, actions in values.items():
        for element in actions.values() if isinstance(actions, dict) else ():
            if not isinstance(element, dict):
                continue
            selected = element.get("selected_option")
            chosen = selected.get("value") if isinstance(selected, dict) else None
            out[str(block_id)] = str(chosen or element.get("value") or "")
    return out


def _user(body: dict[str, Any]) -> str:
    user = body.get("user")
    return str(user.get("id") or "") if isinstance(user, dict) else ""


def register(app: App, services: Services, intake: Intake) -> None:
    """Register the modal submit handlers: a form's field errors are answered in the ack (the
    form stays open), the rest is recorded and handed on."""
    buttons = router(services)

    def submit(body: dict[str, Any]) -> None:
        view = body.get("view")
        fields = _values(view if isinstance(view, dict) else {})
        user = _user(body)
        try:
            message = services.access.submit(user, *_request(fields))
        except UserError as exc:
            message = {"text": str(exc)}
        services.notify_user(user, message)

    def glass(body: dict[str, Any]) -> None:
        view = body.get("view")
        fields = _values(view if isinstance(view, dict) else {})
        user = _user(body)
        try:
            message = services.access.glass.grant(user, *_request(fields))
        except UserError as exc:
            message = {"text": str(exc)}
        services.notify_user(user, message)

    def deny(body: dict[str, Any]) -> None:
        view = body.get("view")
        view = view if isinstance(view, dict) else {}
        user = _user(body)
        reference = str(view.get("private_metadata", ""))
        note = _values(view).get("reason", "").strip()
        try:
            buttons.deny(reference, user, note)
        except UserError as exc:  # someone decided first, or no longer an owner: say so
            services.notify_user(user, {"text": str(exc)})
        # A denial is not DMed back to its decider: the card shows "Denied by" them.

    work = {
        CallbackId.ACCESS_REQUEST.value: submit,
        CallbackId.BREAK_GLASS.value: glass,
        CallbackId.DENY_REASON.value: deny,
    }

    def run(body: dict[str, Any]) -> None:
        view = body.get("view")
        callback = view.get("callback_id") if isinstance(view, dict) else None
        work[str(callback)](body)

    intake.register("view", run)

    @app.view(CallbackId.ACCESS_REQUEST.value)
    def handle_access_request(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
    ) -> None:
        _, errors = services.access.validate(*_request(_values(view)))
        if errors:
            ack(response_action="errors", errors=errors)
            return
        intake.take("view", delivery_key(context, "view"), body)
        ack()

    @app.view(CallbackId.BREAK_GLASS.value)
    def handle_break_glass(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
    ) -> None:
        # Who may break glass is a directory lookup: it is checked here, so a refusal stays
        # in the form (the one network call before this ack, like views.open for a form).
        _, errors = services.access.glass.validate(_user(body), *_request(_values(view)))
        if errors:
            ack(response_action="errors", errors=errors)
            return
        intake.take("view", delivery_key(context, "view"), body)
        ack()

    @app.view(CallbackId.DENY_REASON.value)
    def handle_deny_reason(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        intake.take("view", delivery_key(context, "view"), body)
        ack()


def _request(fields: dict[str, str]) -> tuple[str, str, str, str]:
    return (
        fields.get("workspace", ""),
        fields.get("role", ""),
        fields.get("duration", ""),
        fields.get("reason", ""),
    )
