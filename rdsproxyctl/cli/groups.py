"""Command groups whose bare form runs a default subcommand.

``rdsproxyctl targets NAME`` is ``rdsproxyctl targets list NAME``, while
``rdsproxyctl targets add NAME ...`` still reaches ``add``.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup


class DefaultCommandGroup(TyperGroup):
    """A group that inserts :attr:`default_command` when the first word is not a command."""

    default_command = "list"

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


def group_with_default(default: str, **kwargs: Any) -> typer.Typer:
    """A ``typer.Typer`` sub-app whose bare form runs ``default``."""
    cls = type(f"Default{default.title()}Group", (DefaultCommandGroup,), {"default_command": default})
    return typer.Typer(cls=cls, no_args_is_help=True, **kwargs)
