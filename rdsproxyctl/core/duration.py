"""The one duration grammar of every option that takes a length of time.

``90`` (seconds), ``90s``, ``10m``, ``1h``, ``1d``, ``1w`` and sums such as ``1h30m``;
decimals are allowed (``1.5s``).  Used by ``--timeout``, ``--connect-timeout``,
``--hold``, ``--borrow-timeout``, ``--idle-client-timeout`` and the duration form of
``--since``/``--until``.
"""

from __future__ import annotations

import re

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)
_WITH_UNITS = re.compile(r"\s*(?:\d+(?:\.\d+)?\s*[smhdw]\s*)+", re.IGNORECASE)
_PLAIN = re.compile(r"\s*\d+(?:\.\d+)?\s*")

FORMS = "90 (seconds), 90s, 10m, 1h, 1h30m"


def parse_seconds(text: str) -> float | None:
    """``text`` in seconds, or ``None`` when it is not a duration."""
    if _PLAIN.fullmatch(text):
        return float(text)
    if _WITH_UNITS.fullmatch(text):
        return sum(float(n) * UNITS[u.lower()] for n, u in _PART.findall(text))
    return None
