"""The classifier: documented lines, variants, envelopes, fields, and random input."""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rdsproxyctl.core.logs.classify import (
    MAX_LINE_BYTES,
    SEARCH_LIMIT,
    Classifier,
    classify,
    read_lines,
)
from rdsproxyctl.core.logs.signatures import BY_ID, FIELDS, SIGNATURES, UNCLASSIFIED

from .logs_data import DOCUMENTED, EMULATOR, VARIANTS


@pytest.mark.parametrize(("line", "signature", "fields"), DOCUMENTED,
                         ids=[f"{i}-{s}" for i, (_, s, _) in enumerate(DOCUMENTED)])
def test_documented_lines_get_their_signature_and_fields(line, signature, fields):
    event = Classifier().classify(line)
    assert event.signature == signature, (line, event)
    for name, value in fields.items():
        assert event.fields.get(name) == value, (name, event.fields)
    assert event.severity == BY_ID[signature].severity


@pytest.mark.parametrize(("line", "signature", "fields"), EMULATOR,
                         ids=[f"{i}-{s}" for i, (_, s, _) in enumerate(EMULATOR)])
def test_the_sandbox_emulators_wording(line, signature, fields):
    event = classify(line)
    assert event.signature == signature, (line, event)
    for name, value in fields.items():
        assert event.fields.get(name) == value, (name, event.fields)


@pytest.mark.parametrize(("line", "signature"), VARIANTS,
                         ids=[f"{i}-{s}" for i, (_, s) in enumerate(VARIANTS)])
def test_wording_variants_and_envelopes(line, signature):
    assert classify(line).signature == signature, line


@pytest.mark.parametrize("sig", SIGNATURES, ids=[s.id for s in SIGNATURES])
def test_every_catalog_example_classifies_as_its_row(sig):
    assert sig.examples, f"{sig.id} has no example (docs/signatures.md shows them)"
    for line in sig.examples:
        assert classify(line).signature == sig.id, line


def test_every_catalog_row_is_reachable_and_well_formed():
    ids = [s.id for s in SIGNATURES]
    assert len(ids) == len(set(ids))
    for sig in SIGNATURES:
        assert sig.severity in ("info", "warn", "error")
        assert sig.patterns or sig.parent, f"{sig.id} can never match"
        assert not sig.parent or sig.reason_patterns, sig.id
        assert not sig.parent or sig.parent in BY_ID, sig.id
        assert sig.doc.startswith("https://docs.aws.amazon.com/"), sig.id
        assert sig.cause and sig.remedy and sig.title
        assert set(sig.fields) <= set(FIELDS), (sig.id, sig.fields)
        for pattern in (*sig.patterns, *sig.reason_patterns):
            re.compile(pattern)


def test_no_pattern_has_a_literal_digit():
    # The shape cache maps every digit to 0: only sound if no pattern tells digits apart.
    for sig in SIGNATURES:
        for pattern in (*sig.patterns, *sig.reason_patterns):
            stripped = re.sub(r"\{\d+(?:,\d*)?\}", "", pattern)  # quantifiers are fine
            assert not re.search(r"\d", stripped), (sig.id, pattern)


def test_envelope_parts():
    e = classify("2022-10-21T17:25:29.482000+00:00 2022/10/21/prx-1 2022-10-21T17:25:29.482Z "
                 "[WARN] [proxyEndpoint=reader] [clientConnection=42] [dbConnection=7] "
                 "The database connection closed.")
    assert (e.timestamp, e.log_stream, e.level) == ("2022-10-21T17:25:29.482Z", "2022/10/21/prx-1",
                                                    "WARN")
    assert (e.endpoint, e.client_connection, e.db_connection) == ("reader", "42", "7")
    assert e.message == "The database connection closed."
    # the dbConnection inside a pinning message is found too
    pinned = classify("[WARN] The client session was pinned to the database connection "
                      "[dbConnection=99] for the remainder of the session. Reason: x")
    assert pinned.db_connection == "99" and pinned.endpoint is None
    # a level counts in brackets or before a colon only: MySQL's "ERROR 1045" is message
    mysql = classify("ERROR 1045 (28000): Access denied for user 'app'@'h'")
    assert mysql.level is None and mysql.message.startswith("ERROR 1045")
    assert classify("warning: something odd").level == "WARN"
    # the caller's timestamp and stream (CloudWatch's) win over the line's
    e = classify("2022-10-21T17:25:29.482Z [INFO] A new client connected from 10.0.0.1:1.",
                 timestamp="2030-01-01T00:00:00.000Z", log_stream="s")
    assert (e.timestamp, e.log_stream) == ("2030-01-01T00:00:00.000Z", "s")


def test_unclassified_lines_stay_visible_with_the_severity_of_their_level():
    for line, severity in (("[ERROR] [proxyEndpoint=default] The flux capacitor broke.", "error"),
                           ("[WARN] Something unusual.", "warn"),
                           ("[INFO] Hello.", "info"),
                           ("plain text", "info")):
        e = classify(line)
        assert (e.signature, e.severity) == (UNCLASSIFIED, severity)
        assert e.message and e.fields == {}


def test_json_keys_are_stable_and_fields_are_merged():
    line, _, _ = DOCUMENTED[1]
    data = classify(line).to_json()
    assert list(data)[:9] == ["timestamp", "level", "endpoint", "client_connection",
                              "db_connection", "log_stream", "signature", "severity", "message"]
    assert data["user"] == "app_user" and data["reason"] == "Invalid credentials"
    assert set(data) == {*list(data)[:9], *FIELDS} and data["digest"] is None


def test_secrets_in_lines_are_redacted():
    e = classify("[INFO] connecting with password=hunter2 to postgresql://app:s3cret@db:5432/x")
    assert "hunter2" not in e.message and "s3cret" not in e.message
    assert "hunter2" not in e.raw and "***redacted***" in e.message


def test_cached_shapes_give_the_same_result_as_a_fresh_classifier():
    c = Classifier()
    first = c.classify(PREFIX_LINE.format(conn=111, port=55392, user="app"))
    again = c.classify(PREFIX_LINE.format(conn=987, port=10001, user="app"))  # same shape
    fresh = Classifier().classify(PREFIX_LINE.format(conn=987, port=10001, user="app"))
    assert again == fresh and first.signature == again.signature
    assert again.client_connection == "987" and again.fields["user"] == "app"
    assert len(c._shapes) == 1  # one shape for both lines


def test_the_shape_cache_is_bounded():
    c = Classifier(cache_size=10)
    for i in range(25):
        c.classify(f"[INFO] line number {'x' * i}")
    assert len(c._shapes) <= 10


PREFIX_LINE = ("2022-10-21T17:25:29.482Z [WARN] [proxyEndpoint=default] [clientConnection={conn}] "
               'Proxy authentication with IAM authentication failed for user "{user}" with TLS on. '
               "Reason: An expired token. Client 10.0.0.1:{port}")


def test_long_lines_are_searched_up_to_the_limit_only():
    tail = "Timed-out waiting to acquire database connection."
    assert classify("x " * 100 + tail).signature == "borrow-timeout"
    assert classify("x" * (SEARCH_LIMIT + 10) + " " + tail).signature == UNCLASSIFIED


def test_read_lines_decodes_anything_and_cuts_long_lines():
    data = b"ok line\n\xff\xfe\x00binary\r\n" + b"A" * 50 + b"\nlast"
    assert list(read_lines(io.BytesIO(data), max_bytes=20)) == [
        "ok line", "\ufffd\ufffd\x00binary", "A" * 20, "last"]
    assert MAX_LINE_BYTES == 256 * 1024


# -- random input -------------------------------------------------------------------------------
_words = st.sampled_from(["IAM", "authentication", "failed", "for", "user", '"app"', "Reason:",
                          "expired", "pinned", "session", "was", "Digest:", "16384", "bytes",
                          "[WARN]", "[proxyEndpoint=x]", "connection", "closed", "Timed-out",
                          "password", "X-Amz-Security-Token", "empty", "\x1b[31m", "\x00", "é"])
_examples = [ex for sig in SIGNATURES for ex in sig.examples] + [line for line, *_ in DOCUMENTED]
_cut_examples = st.sampled_from(_examples).flatmap(
    lambda e: st.tuples(st.integers(0, len(e)), st.integers(0, len(e))).map(
        lambda ij: e[min(ij):max(ij)]))
_texts = st.one_of(st.text(max_size=400), st.lists(_words, max_size=40).map(" ".join),
                   _cut_examples, _cut_examples.map(str.swapcase))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_texts)
def test_random_text_never_crashes_and_yields_catalog_values(text):
    e = Classifier().classify(text)
    assert e.signature == UNCLASSIFIED or e.signature in BY_ID
    assert e.severity in ("info", "warn", "error")
    assert set(e.fields) <= set(FIELDS)
    assert all(v is not None and v != "" for v in e.fields.values())


@settings(max_examples=300, deadline=None)
@given(_texts)
def test_the_literal_prefilter_never_changes_a_result(text):
    plain = Classifier()
    assert plain.top.prefilter is not None  # the catalog's patterns all have required literals
    plain.top.prefilter = None
    assert Classifier().classify(text) == plain.classify(text)


@settings(max_examples=200, deadline=None)
@given(_texts, st.permutations("0123456789"))
def test_digits_never_change_the_classification(text, digits):
    """What makes the shape cache sound: swapping digits changes values, not the shape."""
    swapped = text.translate(str.maketrans("0123456789", "".join(digits)))
    a, b = Classifier().classify(text), Classifier().classify(swapped)
    assert (a.signature, sorted(a.fields)) == (b.signature, sorted(b.fields))
    c = Classifier()
    c.classify(text)
    assert c.classify(swapped) == b  # a cache hit equals a fresh classification


def _reference_lines(data: bytes, max_bytes: int) -> list[str]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line[:max_bytes].decode("utf-8", "replace").removesuffix("\r") for line in lines]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=40), st.sampled_from([b"\n", b"\r\n", b"\xc3\xa9"])),
                max_size=30).map(b"".join),
       st.integers(1, 17), st.integers(1, 23))
def test_read_lines_in_chunks_equals_splitting_the_whole_input(data, chunk_size, max_bytes):
    got = list(read_lines(io.BytesIO(data), max_bytes=max_bytes, chunk_size=chunk_size))
    assert got == _reference_lines(data, max_bytes)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000))
def test_binary_garbage_reads_and_classifies(data):
    for line in read_lines(io.BytesIO(data), max_bytes=256):
        assert classify(line).signature is not None
