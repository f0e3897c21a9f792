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


class LazyGroup(TyperGroup):
    """The root group: imports a command's module only when that command is used.

    :attr:`lazy` maps a command name to the modules whose ``register(app)`` define it
    (each module registers on a fresh ``typer.Typer``; the command is picked from the
    result).  ``rdsproxyctl token ...`` then never imports the modules of ``show``,
    ``sandbox`` or ``diagnose``; ``rdsproxyctl --help`` imports them all to list them.
    """

    lazy: dict[str, tuple[str, ...]] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.lazy, *(n for n in super().list_commands(ctx) if n not in self.lazy)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        modules = self.lazy.get(cmd_name)
        if modules is None:
            return super().get_command(ctx, cmd_name)
        return _load(modules).get_command(ctx, cmd_name)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except Exception as exc:  # click's UsageError: suggest lazy names too
            from difflib import get_close_matches

            message = getattr(exc, "message", None)
            if message is not None and args and "Did you mean" not in message:
                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    exc.message = (message.rstrip(".") + ". Did you mean "
                                   + ", ".join(repr(m) for m in matches) + "?")
            raise


_loaded: dict[tuple[str, ...], Any] = {}


def _load(modules: tuple[str, ...]) -> Any:
    """The click group made of what ``modules`` register (built once per process)."""
    import importlib

    group = _loaded.get(modules)
    if group is None:
        sub = typer.Typer()
        for name in modules:
            importlib.import_module(name).register(sub)
        group = _loaded[modules] = typer.main.get_group(sub)
    return group
