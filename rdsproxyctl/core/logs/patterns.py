"""The catalog's patterns for other engines: CloudWatch Logs filter patterns and grep.

CloudWatch Logs filter patterns (the ``filterPattern`` of FilterLogEvents) match
terms case-sensitively; ``"a phrase"`` matches events containing the phrase and
``?"a" ?"b"`` events containing either (see "Filter pattern syntax for metric filters,
subscription filters, filter log events, and Live Tail",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html).
A server-side pattern only cuts transfer: every event that comes back is classified
and filtered again locally, so a pattern may let through more than asked, never less.

:func:`grep_patterns` turns the catalog's patterns into POSIX EREs for
``grep -E -i``, which the benchmark uses as the floor to compare ``classify`` with.
"""

from __future__ import annotations

from collections.abc import Iterable

from rdsproxyctl.core.logs.signatures import BY_ID, SIGNATURES, Signature

#: CloudWatch Logs refuses longer filter patterns.
MAX_FILTER_PATTERN = 1024

#: Terms that find unclassified lines of a level (the proxy writes ``[WARN]``, ``[ERROR]``).
LEVEL_TERMS = {"warn": ("WARN",), "error": ("ERROR",)}


def quote_term(term: str) -> str:
    """One term of a filter pattern, quoted (terms with spaces or symbols must be)."""
    if '"' in term or "\\" in term:
        raise ValueError(f"filter term {term!r} may not contain quotes or backslashes")
    return f'"{term}"'


def any_term(terms: Iterable[str]) -> str | None:
    """A filter pattern matching events that contain any of ``terms``.

    ``None`` (fetch everything, filter locally) when there is no term or the pattern
    would exceed :data:`MAX_FILTER_PATTERN`.
    """
    unique = list(dict.fromkeys(terms))
    if not unique:
        return None
    if len(unique) == 1:
        pattern = quote_term(unique[0])
    else:
        pattern = " ".join("?" + quote_term(t) for t in unique)
    return pattern if len(pattern) <= MAX_FILTER_PATTERN else None


def signature_terms(signatures: Iterable[Signature]) -> list[str] | None:
    """The filter terms of ``signatures``; ``None`` if one of them has none."""
    terms: list[str] = []
    for sig in signatures:
        if not sig.filter_terms:
            return None
        terms.extend(sig.filter_terms)
    return terms


def endpoint_term(endpoint: str) -> str:
    """The pattern for one proxy endpoint's lines (their ``[proxyEndpoint=NAME]`` tag)."""
    return quote_term(f"[proxyEndpoint={endpoint}]")


def build_filter_pattern(signature_ids: Iterable[str] | None, *,
                         unclassified_levels: Iterable[str] | None,
                         endpoint: str | None = None) -> str | None:
    """The server-side pattern for a selection, or ``None`` to fetch everything.

    ``signature_ids``: the catalog rows wanted (``None``: all of them, so no
    signature can narrow the fetch).  ``unclassified_levels``: the severities of the
    unclassified lines wanted (``None``: any level, so nothing narrows the fetch).
    Signature terms win over the endpoint (CloudWatch can't AND an ``?``-list with
    another term); the endpoint is then filtered locally.
    """
    if signature_ids is not None and unclassified_levels is not None:
        terms = signature_terms(BY_ID[i] for i in signature_ids)
        if terms is not None:
            for level in unclassified_levels:
                terms.extend(LEVEL_TERMS.get(level, ()))
            pattern = any_term(terms)
            if pattern is not None:
                return pattern
    return endpoint_term(endpoint) if endpoint else None


def matches(pattern: str | None, message: str) -> bool:
    """How CloudWatch applies a pattern made by this module (for tests and docs).

    Only the shapes this module builds: ``"t"`` and ``?"t1" ?"t2" ...``.
    """
    if not pattern:
        return True
    terms = [t.strip().lstrip("?").strip('"') for t in pattern.split('" ')]
    if pattern.startswith("?"):
        return any(t in message for t in terms)
    return all(t in message for t in terms)


# -- grep -------------------------------------------------------------------------------------
_CLASS_OUTSIDE = {"d": "[0-9]", "D": "[^0-9]", "s": "[[:space:]]", "S": "[^[:space:]]",
                  "w": "[[:alnum:]_]", "W": "[^[:alnum:]_]"}
_CLASS_INSIDE = {"d": "0-9", "s": "[:space:]", "w": "[:alnum:]_"}


def to_ere(pattern: str) -> str:
    """A catalog pattern as a POSIX ERE (GNU grep -E), same matches.

    Handles the subset the catalog keeps to (see :mod:`.signatures`): named and
    non-capturing groups become plain groups, lazy quantifiers greedy (same set of
    matching lines), ``\\d \\s \\w`` and friends POSIX classes.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    in_set = False
    while i < n:
        c = pattern[i]
        if in_set:
            if c == "\\":
                e = pattern[i + 1]
                if e not in _CLASS_INSIDE and e.isalnum():
                    raise ValueError(f"\\{e} inside brackets has no ERE equivalent: {pattern}")
                out.append(_CLASS_INSIDE.get(e, e))
                i += 2
                continue
            if c == "]":
                in_set = False
            out.append(c)
            i += 1
            continue
        if c == "\\":
            e = pattern[i + 1]
            out.append(_CLASS_OUTSIDE.get(e, "\\" + e))
            i += 2
        elif c == "[":
            in_set = True
            out.append(c)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":  # a literal ] first in the set
                out.append("]")
                i += 1
        elif pattern.startswith("(?P<", i):
            i = pattern.index(">", i) + 1
            out.append("(")
        elif pattern.startswith("(?:", i):
            i += 3
            out.append("(")
        elif pattern.startswith("(?", i):
            raise ValueError(f"no ERE equivalent for {pattern[i:i + 4]!r} in {pattern}")
        elif c == "?" and out and out[-1] in ("*", "+", "?", "}") and pattern[i - 1] in "*+?}":
            i += 1  # lazy -> greedy: the same lines match
        else:
            out.append(c)
            i += 1
    return "".join(out)


def grep_patterns(signatures: Iterable[Signature] = SIGNATURES) -> list[str]:
    """The top-level patterns of the catalog as EREs: ``grep -E -i -c -e P1 -e P2 ...``
    counts the lines that ``classify`` tags with a signature."""
    return [to_ere(p) for s in signatures for p in s.patterns]
