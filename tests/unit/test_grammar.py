"""The one command grammar of `/env` and `/access`: examples from issue 15, and properties that
any input gives a command or a clear `UserError`, reasons survive whole, extra words are named."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.commands import Command, parse_command
from bot.domain.durations import UNIT_WORDS
from bot.domain.grammar import Word, split_words
from bot.errors import UserError

NOT_UNDERSTOOD = 'I did not understand "{}": put a reason in quotes or after --reason'
plain_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.,!?", min_size=1, max_size=12)
reason_words = st.lists(plain_word.filter(lambda w: not w.startswith("--")), min_size=1, max_size=8)


def _outcome(surface: str, text: str) -> Command | UserError:
    try:
        return parse_command(surface, text)
    except UserError as exc:
        return exc


@pytest.mark.parametrize(
    ("surface", "text", "expected"),
    [
        ("env", "create sandbox --reason try things", ("sandbox",)),
        ("env", 'create sandbox demo "try things"', ("sandbox", "demo")),
        ("env", "create sandbox demo --reason=try", ("sandbox", "demo")),
        ("env", "create sandbox \u201ctry things\u201d", ("sandbox",)),
        ("access", 'request sandbox view 1d "read the logs"', ("sandbox", "view", "1d")),
        ("access", "request sandbox view 1d --reason read the logs", ("sandbox", "view", "1d")),
    ],
)
def test_a_reason_is_quoted_or_after_reason(
    surface: str, text: str, expected: tuple[str, ...]
) -> None:
    cmd = parse_command(surface, text)
    assert cmd.args == expected
    assert cmd.options["reason"] in ("try things", "try", "read the logs")


@pytest.mark.parametrize(
    ("surface", "text", "words"),
    [
        ("env", "create sandbox --ttl 2d for the demo", "for the demo"),
        ("env", "create sandbox mine for the demo", "for the demo"),
        ("env", 'create sandbox mine "why" more words', "more words"),
        ("access", "request sandbox view 1d read the logs", "read the logs"),
        ("access", 'request sandbox view --until "fri 18:00" read it', "read it"),
    ],
)
def test_extra_words_are_named_exactly(surface: str, text: str, words: str) -> None:
    with pytest.raises(UserError) as info:
        parse_command(surface, text)
    assert str(info.value) == NOT_UNDERSTOOD.format(words)


def test_a_verb_without_a_reason_names_its_usage() -> None:
    with pytest.raises(UserError) as info:
        parse_command("env", "show mine and more")
    assert str(info.value) == 'I did not understand "and more"; usage: `/env show <name>`'


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("create sandbox --ttl 3 days", "3 days"),
        ("create sandbox --ttl 3d", "3d"),
        ("extend mine 2 hours", None),
        ('create sandbox --until "fri 18:00"', "fri 18:00"),
        ("create sandbox --until fri 18:00", "fri 18:00"),
        ("create sandbox --until 2026-12-04 9am", "2026-12-04 9am"),
    ],
)
def test_durations_and_times_in_two_words_stay_whole(text: str, value: str | None) -> None:
    cmd = parse_command("env", text)
    if value is None:
        assert cmd.args == ("mine", "2 hours")
    else:
        assert value in cmd.options.values()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("create sandbox --colour red", 'unknown option "--colour"'),
        ("create sandbox --ttl", "--ttl needs a value"),
        ("create sandbox --reason", "--reason needs a value"),
        ("create sandbox --ttl 1d --ttl 2d", "--ttl is given twice"),
        ("list --all=yes", "--all takes no value"),
        ('create sandbox x --reason "unterminated', "check the quotes"),
        ("nosuchverb", 'unknown command "nosuchverb"'),
    ],
)
def test_bad_input_says_what_to_do(text: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        parse_command("env", text)
    assert message in str(info.value)


def test_apostrophes_are_letters_and_quotes_open_words() -> None:
    assert split_words("--reason don't 'a b' c") == [
        Word("--reason"),
        Word("don't"),
        Word("a b", quoted=True),
        Word("c"),
    ]


def test_empty_text_is_help() -> None:
    assert parse_command("access", "   ") == Command("access", "help")


@given(st.sampled_from(["env", "access"]), st.text(max_size=80))
def test_any_text_gives_a_command_or_a_user_error(surface: str, text: str) -> None:
    got = _outcome(surface, text)
    if isinstance(got, UserError):
        assert str(got)
    else:
        assert got.surface == surface


@given(
    st.sampled_from(["env", "access"]),
    st.lists(
        st.sampled_from(
            [
                "create",
                "request",
                "sandbox",
                "view",
                "1d",
                "3",
                "days",
                "--ttl",
                "--until",
                "fri",
                "18:00",
                "--reason",
                "--all",
                '"a b"',
                "'c d'",
                "x",
                "--ttl=2h",
                "\u201cq\u201d",
            ]
        ),
        max_size=10,
    ),
)
def test_any_command_shaped_words_give_a_command_or_a_user_error(
    surface: str, words: list[str]
) -> None:
    got = _outcome(surface, " ".join(words))
    assert isinstance(got, Command) or str(got)


@given(reason_words)
def test_reason_after_the_option_survives_whole(words: list[str]) -> None:
    cmd = parse_command("env", f"create sandbox --reason {' '.join(words)}")
    assert cmd.options["reason"] == " ".join(words)


@given(st.text(alphabet=st.characters(blacklist_characters='"\u201c\u201d'), max_size=60))
def test_a_quoted_reason_survives_whole(reason: str) -> None:
    got = _outcome("access", f'request sandbox view 1d "{reason}"')
    assert isinstance(got, Command), got
    # Slack's curly apostrophes read as straight ones; nothing else changes
    assert (
        got.options.get("reason", "")
        == reason.replace("\u2018", "'").replace("\u2019", "'").strip()
    )


@given(reason_words)
def test_unquoted_words_after_the_options_are_named(words: list[str]) -> None:
    text = " ".join(words)
    with pytest.raises(UserError) as info:
        parse_command("env", f"create sandbox --ttl 2d {text}")
    assert str(info.value) == NOT_UNDERSTOOD.format(text if len(text) <= 80 else text[:80] + "…")


@given(st.integers(min_value=1, max_value=999), st.sampled_from(sorted(UNIT_WORDS)))
def test_a_spelt_out_ttl_is_kept_for_its_did_you_mean(n: int, unit: str) -> None:
    cmd = parse_command("env", f"create sandbox --ttl {n} {unit}")
    assert cmd.options["ttl"] == f"{n} {unit}"


@given(
    st.text(alphabet=st.characters(blacklist_characters="\"'\u2018\u2019\u201c\u201d"), max_size=80)
)
def test_text_without_quotes_splits_as_the_quote_aware_reader_splits_it(text: str) -> None:
    # a quoted word at the end sends the whole text through the character-by-character reader
    assert split_words(text + ' "q"')[:-1] == split_words(text)
