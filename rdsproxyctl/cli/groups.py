"""Command groups whose bare form runs a default subcommand.

``rdsproxyctl targets NAME`` is ``rdsproxyctl targets list NAME``, while
``rdsproxyctl targets add NAME ...`` still reaches ``add``.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup


try:  # typer 0.28 carries its own copy of click
    from typer._click.exceptions import ClickException, UsageError
except ImportError:  # pragma: no cover - typer < 0.28 uses click itself
    from click.exceptions import ClickException, UsageError  # type: ignore[no-redef]


class HelpGroup(TyperGroup):
    """A group called without a subcommand prints its help on stderr and exits 2 (a usage
    error: no data on stdout)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            print_help_to_stderr(ctx)
            raise typer.Exit(2)
        return super().parse_args(ctx, args)


class DefaultCommandGroup(HelpGroup):
    """A group that inserts :attr:`default_command` when the first word is not a command."""

    default_command = "list"

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            _suggest(ctx, args, list(self.commands))
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


def _suggest(ctx: Any, args: list[str], commands: list[str]) -> None:
    """``targets lst NAME``: a near miss of a subcommand followed by more words is a typo,
    not a proxy called "lst" (the default subcommand takes one name)."""
    from difflib import get_close_matches

    words = [a for a in args if not a.startswith("-")]
    if len(words) < 2 or words[0] != args[0]:
        return
    matches = get_close_matches(args[0], commands, cutoff=0.75)
    if matches:
        raise UsageError(f"No such command {args[0]!r}. Did you mean "
                               + ", ".join(repr(m) for m in matches) + "?", ctx)


def group_with_default(default: str, **kwargs: Any) -> typer.Typer:
    """A ``typer.Typer`` sub-app whose bare form runs ``default``."""
    cls = type(f"Default{default.title()}Group", (DefaultCommandGroup,), {"default_command": default})
    return typer.Typer(cls=cls, no_args_is_help=True, **kwargs)


def usage_error(exc: Any) -> int:
    """click's usage errors as every other failure: one ``error:`` line, one ``hint:`` line
    on stderr, no panel, no colour; exit 2."""
    import sys

    ctx = getattr(exc, "ctx", None)
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    print(f"error: {message}", file=sys.stderr)
    if ctx is not None:
        print(f"hint: see `{ctx.command_path} --help`", file=sys.stderr)
    return int(getattr(exc, "exit_code", 2) or 2)


def print_help_to_stderr(ctx: Any) -> None:
    import contextlib
    import sys

    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        text = ctx.get_help()  # typer's rich help may print itself as well as return it
    sys.stderr.write(text.rstrip("\n") + "\n" if text else printed.getvalue())


class LazyGroup(HelpGroup):
    """The root group: imports a command's module only when that command is used.

    :attr:`lazy` maps a command name to the modules whose ``register(app)`` define it
    (each module registers on a fresh ``typer.Typer``; the command is picked from the
    result).  ``rdsproxyctl token ...`` then never imports the modules of ``show``,
    ``sandbox`` or ``diagnose``; ``rdsproxyctl --help`` lists them from :attr:`summaries` without importing any.
    """

    lazy: dict[str, tuple[str, ...]] = {}
    #: command -> its one-line help: the root's own help lists commands from this alone
    summaries: dict[str, str] = {}
    _listing = False

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True  # get_command below: a summary row, no module imported
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def main(self, args: Any = None, prog_name: Any = None, complete_var: Any = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        """click's main, with usage errors as ``error:``/``hint:`` lines, and a group called
        without a subcommand printing its help on stderr (exit 2)."""
        import sys

        from typer import Abort

        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                              standalone_mode=False, **extra)
        except UsageError as exc:
            code = usage_error(exc)
        except ClickException as exc:
            print(f"error: {exc.format_message()}", file=sys.stderr)
            code = exc.exit_code
        except Abort:
            print("error: aborted", file=sys.stderr)
            code = 1
        else:
            if not standalone_mode:
                return rv
            code = rv if isinstance(rv, int) else 0
        if not standalone_mode and code == 0:
            return None
        sys.exit(code)

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.lazy, *(n for n in super().list_commands(ctx) if n not in self.lazy)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        modules = self.lazy.get(cmd_name)
        if modules is None:
            return super().get_command(ctx, cmd_name)
        if self._listing and cmd_name in self.summaries:
            from typer.core import TyperCommand

            return TyperCommand(cmd_name, short_help=self.summaries[cmd_name])
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
