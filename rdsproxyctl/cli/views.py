"""What a command prints: its JSON data plus the sections a person reads.

The cells of every section are picked from the same JSON data, so ``table``, ``tsv``,
``markdown`` and ``json`` always agree.  (Import these from ``rdsproxyctl.cli.output``.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Column:
    """A table column: the JSON key it shows and its header."""

    key: str
    header: str
    styled: bool = False  # colour the cell by STATUS_STYLES on a terminal
    optional: bool = False  # dropped first when a terminal is too narrow (kept by -o wide)


@dataclass(frozen=True)
class Table:
    columns: Sequence[Column]
    rows: Sequence[dict[str, Any]]
    title: str | None = None
    empty: str = "(none)"


@dataclass(frozen=True)
class Fields:
    """A titled list of ``label: value`` pairs (one record)."""

    pairs: Sequence[tuple[str, Any]]
    title: str | None = None


Section = Table | Fields


@dataclass
class View:
    data: Any
    sections: list[Section] = field(default_factory=list)
