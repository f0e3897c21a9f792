"""The app's own list of commands, for tests that must cover every command (a new one is
covered automatically, or fails the test until it is described)."""

from __future__ import annotations

from typing import Any

import typer

from rdsproxyctl.cli.app import app
from rdsproxyctl.cli.runtime import COMMON_NAMES


def leaf_commands() -> dict[tuple[str, ...], Any]:
    """``("targets", "remove")`` -> the click command, for every runnable command."""
    root = typer.main.get_group(app)
    ctx = typer.Context(root)
    found: dict[tuple[str, ...], Any] = {}

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        if hasattr(cmd, "list_commands"):
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), (*path, name))
        else:
            found[path] = cmd

    walk(root, ())
    return found


def own_params(cmd: Any) -> list[Any]:
    """A command's arguments and options, without the global ones."""
    return [p for p in cmd.params if p.name not in COMMON_NAMES]


def mutating_commands() -> dict[tuple[str, ...], Any]:
    """Commands that change AWS: every one of them has --dry-run (it builds a plan)."""
    return {path: cmd for path, cmd in leaf_commands().items()
            if any(p.name == "dry_run" for p in cmd.params)}
