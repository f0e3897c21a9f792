"""Docs generated from code (docs/cli.md, ...) must be current."""

from __future__ import annotations

from rdsproxyctl.devtools import gendocs


def test_generated_docs_are_current(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    stale = [rel for rel, generate in gendocs.GENERATORS.items()
             if not (gendocs.ROOT / rel).exists() or (gendocs.ROOT / rel).read_text() != generate()]
    assert not stale, f"stale: {stale}; run `python -m rdsproxyctl.devtools.gendocs`"
