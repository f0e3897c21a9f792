"""Time windows, selections, and the filter patterns built from the catalog (unit tests:
moto only implements plain terms, so the pattern builder is tested on its own here)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import pytest

from rdsproxyctl.core.logs.classify import classify
from rdsproxyctl.core.logs.patterns import (
    MAX_FILTER_PATTERN,
    any_term,
    build_filter_pattern,
    endpoint_term,
    grep_patterns,
    matches,
    quote_term,
    to_ere,
)
from rdsproxyctl.core.logs.query import Selection, Window, parse_time, resolve_signatures
from rdsproxyctl.core.logs.signatures import SIGNATURES
from rdsproxyctl.errors import UsageError

from .logs_data import DOCUMENTED, VARIANTS

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(("text", "expected"), [
    ("15m", NOW - dt.timedelta(minutes=15)),
    ("2h", NOW - dt.timedelta(hours=2)),
    ("1d", NOW - dt.timedelta(days=1)),
    ("1w", NOW - dt.timedelta(weeks=1)),
    ("90s", NOW - dt.timedelta(seconds=90)),
    ("1h30m", NOW - dt.timedelta(minutes=90)),
    (" 1H 30M ", NOW - dt.timedelta(minutes=90)),
    ("0.5h", NOW - dt.timedelta(minutes=30)),
    ("2024-05-01", dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)),
    ("2024-05-01T10:00", dt.datetime(2024, 5, 1, 10, tzinfo=dt.timezone.utc)),
    ("2024-05-01T10:00:00Z", dt.datetime(2024, 5, 1, 10, tzinfo=dt.timezone.utc)),
    ("2024-05-01T12:00:00+02:00", dt.datetime(2024, 5, 1, 10, tzinfo=dt.timezone.utc)),
])
def test_parse_time_forms(text, expected):
    assert parse_time(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "15x", "-5m", "0m", "2024-13-01",
                                  "10:00", "1h and a bit", "9" * 30 + "d"])
def test_parse_time_rejects_nonsense_with_usage_error(text):
    with pytest.raises(UsageError) as info:
        parse_time(text, now=NOW, option="--since")
    assert info.value.exit_code == 2 and "--since" in info.value.message


def test_window_checks_order_and_future():
    w = Window.parse("1h", "30m", now=NOW)
    assert w.end - w.start == 30 * 60 * 1000
    assert Window.parse("10m", now=NOW).end is None
    with pytest.raises(UsageError, match="not after"):
        Window.parse("30m", "1h", now=NOW)
    with pytest.raises(UsageError, match="future"):
        Window.parse("2999-01-01", now=NOW)


def test_resolve_signatures_exact_glob_and_unknown():
    assert resolve_signatures(["tls-required"]) == {"tls-required"}
    assert resolve_signatures(["pinned*"]) == {"pinned", "pinned-parse-message",
                                               "pinned-statement-too-large",
                                               "pinned-session-settings", "pinned-lock",
                                               "pinned-temporary-table"}
    assert "unclassified" in resolve_signatures(["unclassified"])
    with pytest.raises(UsageError) as info:
        resolve_signatures(["no-such-thing"])
    assert info.value.exit_code == 2 and "iam-auth-failed" in info.value.hint


def test_selection_keeps_by_signature_severity_endpoint_and_grep():
    warn = classify("[WARN] [proxyEndpoint=reader] The client session was pinned. Reason: x")
    info = classify("[INFO] [proxyEndpoint=default] A new client connected from 10.0.0.1:5.")
    odd = classify("[ERROR] [proxyEndpoint=default] something nobody catalogued")
    assert all(Selection().keep(e) for e in (warn, info, odd))
    errors = Selection.build(errors=True)
    assert [errors.keep(e) for e in (warn, info, odd)] == [True, False, True]
    assert [Selection.build(signatures=["pinned"]).keep(e) for e in (warn, info, odd)] == [
        True, False, False]
    assert [Selection.build(endpoint="reader").keep(e) for e in (warn, info, odd)] == [
        True, False, False]
    assert [Selection.build(grep=r"10\.0\.0\.\d").keep(e) for e in (warn, info, odd)] == [
        False, True, False]
    with pytest.raises(UsageError, match="--grep"):
        Selection.build(grep="([unclosed")


# -- filter patterns ----------------------------------------------------------------------------
def test_terms_are_quoted_and_or_ed():
    assert any_term(["pinned"]) == '"pinned"'
    assert any_term(["pinned", "rate limit", "pinned"]) == '?"pinned" ?"rate limit"'
    assert any_term([]) is None
    assert any_term(["x" * MAX_FILTER_PATTERN]) is None  # too long: fetch all, filter locally
    assert endpoint_term("reader") == '"[proxyEndpoint=reader]"'
    with pytest.raises(ValueError):
        quote_term('say "hi"')


def test_matches_follows_cloudwatch_term_semantics():
    assert matches('?"a b" ?"c"', "xx a b yy") and matches('?"a b" ?"c"', "c")
    assert not matches('?"a b" ?"c"', "a  b")
    assert matches('"[proxyEndpoint=r]"', "[INFO] [proxyEndpoint=r] hi")
    assert matches(None, "anything")


def test_errors_pattern_keeps_every_warning_and_error_line_and_cuts_info():
    pattern = Selection.build(errors=True).filter_pattern()
    assert pattern is not None and len(pattern) <= MAX_FILTER_PATTERN
    assert '?"WARN"' in pattern and '?"ERROR"' in pattern  # unclassified lines by level
    lines = [line for line, *_ in DOCUMENTED] + [line for line, _ in VARIANTS]
    lines += [ex for s in SIGNATURES for ex in s.examples]
    for line in lines:
        if classify(line).severity != "info":
            assert matches(pattern, line), line
    info = [ex for s in SIGNATURES if s.severity == "info" for ex in s.examples]
    assert sum(matches(pattern, line) for line in info) <= len(info) // 3


@pytest.mark.parametrize("sig", SIGNATURES, ids=[s.id for s in SIGNATURES])
def test_each_signature_filter_finds_its_own_examples(sig):
    pattern = Selection.build(signatures=[sig.id]).filter_pattern()
    assert pattern is not None, sig.id
    for line in sig.examples:
        assert matches(pattern, line), (sig.id, pattern, line)


def test_pattern_choice_for_selections():
    # nothing selected: fetch everything; endpoint alone: its tag
    assert Selection().filter_pattern() is None
    assert Selection.build(endpoint="reader").filter_pattern() == '"[proxyEndpoint=reader]"'
    # signatures win over the endpoint (CloudWatch can't AND an ?-list); endpoint stays local
    assert Selection.build(signatures=["pinned*"], endpoint="r").filter_pattern() == (
        '?"pinned" ?"pinning" ?"Pinning"')
    # unclassified lines at any level can't be searched for
    assert Selection.build(signatures=["pinned", "unclassified"]).filter_pattern() is None
    # the builder itself
    assert build_filter_pattern(None, unclassified_levels=None) is None
    ids = [s.id for s in SIGNATURES if s.severity == "error"]
    assert '"ERROR"' in build_filter_pattern(ids, unclassified_levels=["error"])


# -- grep ---------------------------------------------------------------------------------------
def test_to_ere_translates_the_subset():
    assert to_ere(r"(?P<user>[^\"'`\s,;]+)\s*\d{1,3}?x+?(?:a|b)\b") == (
        "([^\"'`[:space:],;]+)[[:space:]]*[0-9]{1,3}x+(a|b)\\b")
    assert to_ere(r"[^]x]\W\S\w") == "[^]x][^[:alnum:]_][^[:space:]][[:alnum:]_]"
    with pytest.raises(ValueError):
        to_ere(r"(?=look)")


@pytest.mark.skipif(shutil.which("grep") is None, reason="grep not installed")
def test_grep_with_the_catalog_patterns_counts_what_classify_tags():
    lines = [ex for s in SIGNATURES for ex in s.examples] + [
        line for line, *_ in DOCUMENTED] + ["nothing to see", "[INFO] hello"]
    args = ["grep", "-E", "-i", "-c"]
    for p in grep_patterns():
        args += ["-e", p]
    out = subprocess.run(args, input="\n".join(lines) + "\n", capture_output=True, text=True,
                         env={"LC_ALL": "C"}, check=False)
    tagged = sum(classify(line).signature != "unclassified" for line in lines)
    assert out.stderr == "" and int(out.stdout) == tagged == len(lines) - 2
