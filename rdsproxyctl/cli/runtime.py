"""Global options, their precedence, and the decorator every command is made with.

Every command accepts the global options (``--profile --region --endpoint-url
-o/--output --no-color --debug -q/--quiet``), before or after its name::

    rdsproxyctl --region eu-west-1 show demo -o json
    rdsproxyctl show demo --region eu-west-1 -o json

Precedence, first wins: the option after the command, the option before it, the
``RDSPROXYCTL_*`` environment variable, then AWS's own chain (AWS_PROFILE,
AWS_REGION / AWS_DEFAULT_REGION, AWS_ENDPOINT_URL, ~/.aws/config).  NO_COLOR (any
non-empty value) turns colour off like ``--no-color``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperCommand

from rdsproxyctl.cli.output import OutputFormat, Renderer
from rdsproxyctl.core.aws import Aws, AwsSettings
from rdsproxyctl.errors import RdsProxyCtlError

GLOBAL_PANEL = "Global options"

#: Environment variables read for the global options (after flags, before AWS's chain).
ENV_VARS = {
    "profile": "RDSPROXYCTL_PROFILE",
    "region": "RDSPROXYCTL_REGION",
    "endpoint_url": "RDSPROXYCTL_ENDPOINT_URL",
    "output": "RDSPROXYCTL_OUTPUT",
}


@dataclass(frozen=True)
class GlobalOptions:
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    output: OutputFormat | None = None
    query: str | None = None
    no_headers: bool = False
    no_color: bool = False
    debug: bool = False
    quiet: bool = False

    def over(self, base: GlobalOptions) -> GlobalOptions:
        """These options, falling back to ``base`` where unset (flags: either one)."""
        return GlobalOptions(
            profile=self.profile or base.profile,
            region=self.region or base.region,
            endpoint_url=self.endpoint_url or base.endpoint_url,
            output=self.output or base.output,
            query=self.query or base.query,
            no_headers=self.no_headers or base.no_headers,
            no_color=self.no_color or base.no_color,
            debug=self.debug or base.debug,
            quiet=self.quiet or base.quiet,
        )

    def with_env(self, environ: Mapping[str, str]) -> GlobalOptions:
        """Fill what is unset from RDSPROXYCTL_* variables; output defaults to table."""
        from rdsproxyctl.errors import UsageError

        values = {name: getattr(self, name) or environ.get(var) or None
                  for name, var in ENV_VARS.items()}
        try:
            values["output"] = OutputFormat(values["output"] or OutputFormat.table)
        except ValueError:
            raise UsageError(
                f"RDSPROXYCTL_OUTPUT={environ.get('RDSPROXYCTL_OUTPUT')!r} is not one of "
                + ", ".join(f.value for f in OutputFormat)
            ) from None
        return dataclasses.replace(self, **values)


GLOBAL_HELP = {
    "profile": "(env: RDSPROXYCTL_PROFILE, then AWS_PROFILE)",
    "region": "(env: RDSPROXYCTL_REGION, then AWS_REGION, AWS_DEFAULT_REGION)",
    "endpoint_url": "(env: RDSPROXYCTL_ENDPOINT_URL, then AWS_ENDPOINT_URL)",
    "output": "(env: RDSPROXYCTL_OUTPUT; default: table)",
    "no_color": "(also when NO_COLOR is set)",
}
GLOBAL_FLAGS = {"profile": "--profile", "region": "--region", "endpoint_url": "--endpoint-url",
                "output": "--output", "query": "--query", "no_headers": "--no-headers",
                "no_color": "--no-color", "debug": "--debug", "quiet": "--quiet"}


def global_params() -> list[tuple[str, Any, Any]]:
    """The global options as typer parameters: (name, annotation, default "unset"),
    shown in full by ``rdsproxyctl --help``."""
    from rdsproxyctl.cli.options import option

    params: list[tuple[str, Any, Any]] = []
    for name, flag in GLOBAL_FLAGS.items():
        is_flag = name in ("no_headers", "no_color", "debug", "quiet")
        annotation = bool if is_flag else Optional[str]
        params.append((name, Annotated[annotation, option(
            flag, GLOBAL_HELP.get(name), rich_help_panel=GLOBAL_PANEL, show_default=False)],
            False if is_flag else None))
    return params


def hidden(params: list[tuple[str, Any, Any]]) -> list[tuple[str, Any, Any]]:
    """The same options hidden from a command's help (one "Global options" line there)."""
    import copy

    out = []
    for name, annotation, default in params:
        info = copy.copy(annotation.__metadata__[0])
        info.hidden = True
        out.append((name, Annotated[annotation.__origin__, info], default))
    return out


ROOT_PARAMS = global_params()
COMMON_PARAMS = hidden(ROOT_PARAMS)
GLOBAL_EPILOG = ("Global options (before or after the command; see `rdsproxyctl --help`): "
                 "--profile, --region, --endpoint-url, -o/--output "
                 "table|wide|json|tsv|markdown, --query, --no-headers, --no-color, --debug, "
                 "-q/--quiet.")
COMMON_NAMES = tuple(name for name, _, _ in COMMON_PARAMS)
CTX_PARAM = "_rdsproxyctl_ctx"  # the click context, injected by typer; not an option


def max_attempts(environ: Mapping[str, str]) -> int:
    """Attempts per AWS call: RDSPROXYCTL_MAX_ATTEMPTS, then AWS_MAX_ATTEMPTS, then 5."""
    from rdsproxyctl.core.aws import DEFAULT_MAX_ATTEMPTS
    from rdsproxyctl.errors import UsageError

    raw = environ.get("RDSPROXYCTL_MAX_ATTEMPTS") or environ.get("AWS_MAX_ATTEMPTS")
    if not raw:
        return DEFAULT_MAX_ATTEMPTS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"max attempts must be a positive integer, got {raw!r}",
                         hint="fix RDSPROXYCTL_MAX_ATTEMPTS / AWS_MAX_ATTEMPTS")
    return value


class Runtime:
    """What a command runs with: resolved options, the renderer, the AWS factory."""

    def __init__(self, options: GlobalOptions) -> None:
        self.options = options
        self.renderer = Renderer(options.output or OutputFormat.table,
                                 color=not options.no_color, quiet=options.quiet,
                                 query=options.query, headers=not options.no_headers)
        self.aws_settings = AwsSettings(
            profile=options.profile,
            region=options.region,
            endpoint_url=options.endpoint_url,
            debug=options.debug,
            max_attempts=max_attempts(os.environ),
        )
        self._aws: Aws | None = None

    @property
    def aws(self) -> Aws:
        if self._aws is None:
            self._aws = Aws(self.aws_settings)
        return self._aws

    @property
    def output(self) -> OutputFormat:
        return self.renderer.format


def _root_options(ctx: typer.Context | None) -> GlobalOptions:
    obj = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, GlobalOptions) else GlobalOptions()


def _with_common_params(func: Callable[..., Any], target: Callable[..., Any]) -> None:
    """Give ``target`` the signature of ``func`` minus ``rt``, plus the global options."""
    sig = inspect.signature(func, eval_str=True)
    params = [p for p in sig.parameters.values() if p.name != "rt"]
    params.append(inspect.Parameter(CTX_PARAM, inspect.Parameter.KEYWORD_ONLY,
                                    annotation=typer.Context))
    annotations = {p.name: p.annotation for p in params}
    for name, annotation, default in COMMON_PARAMS:
        if name in annotations:
            continue  # the command defines its own (e.g. a required --region)
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                                        default=default, annotation=annotation))
        annotations[name] = annotation
    target.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    target.__annotations__ = {**annotations, "return": sig.return_annotation}


def reflow(doc: str) -> str:
    """A docstring as help: each paragraph one line (the terminal wraps it at any width),
    except indented blocks (examples), which keep their lines."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    out = []
    for para in paragraphs:
        lines = para.split("\n")
        if any(line.startswith(" ") for line in lines):
            out.append(para)
        else:
            out.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def command_path(ctx: Any) -> str:
    """``ctx``'s command path without the program name: "endpoints create"."""
    names = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return " ".join(reversed(names))


def rewrite_deprecated(path: str, args: list[str],
                       warn: Callable[[str], None] | None = None) -> list[str]:
    """Old spellings of ``path``'s options (options.DEPRECATED) replaced by the new ones."""
    from rdsproxyctl.cli.options import DEPRECATED

    olds = {old: new for (cmd, old), new in DEPRECATED.items() if cmd == path}
    if not olds:
        return args
    out = list(args)
    for i, arg in enumerate(out):
        if arg == "--":
            break
        for old, new in olds.items():
            if arg == old:
                out[i] = new
            elif arg.startswith(old + "=") or (not old.startswith("--") and arg.startswith(old)
                                               and not arg.startswith("--")):
                out[i] = new + "=" + arg[len(old):].removeprefix("=")
            else:
                continue
            if warn is not None:
                warn(f"{old} is deprecated in `{path}`: use {new} (the old spelling will be "
                     "removed in the next release)")
            break
    return out


class VocabularyCommand(TyperCommand):
    """A command that still accepts its options' old spellings (with a warning)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        def warn(message: str) -> None:
            import sys

            print(f"warning: {message}", file=sys.stderr)

        return super().parse_args(ctx, rewrite_deprecated(command_path(ctx), args, warn))


def make_runtime(local: GlobalOptions, ctx: typer.Context | None = None) -> Runtime:
    return Runtime(local.over(_root_options(ctx)).with_env(os.environ))


def command(app: typer.Typer, name: str | None = None, **kwargs: Any) -> Callable[..., Any]:
    """Register ``func`` as a command with the global options and the error handler.

    A parameter named ``rt`` receives the :class:`Runtime`; it is not a CLI option.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        wants_rt = "rt" in inspect.signature(func).parameters

        @functools.wraps(func)
        def wrapper(**values: Any) -> Any:
            from rdsproxyctl.cli.errors import run_guarded

            ctx = values.pop(CTX_PARAM)
            local = GlobalOptions(**{n: values.pop(n) for n in COMMON_NAMES if n in values})
            try:
                rt = make_runtime(local, ctx)
            except RdsProxyCtlError as err:  # a bad RDSPROXYCTL_* variable
                Renderer(color=not local.no_color).error(err.message, hint=err.hint)
                raise typer.Exit(err.exit_code) from None
            if wants_rt:
                values["rt"] = rt
            return run_guarded(rt, _checked, ctx, func, values)

        del wrapper.__wrapped__  # typer must see the new signature, not func's
        _with_common_params(func, wrapper)
        kwargs.setdefault("cls", VocabularyCommand)
        kwargs.setdefault("help", reflow(func.__doc__ or ""))
        kwargs.setdefault("epilog", GLOBAL_EPILOG)
        app.command(name, **kwargs)(wrapper)
        return func

    return decorate


def _checked(ctx: typer.Context, func: Callable[..., Any], values: dict[str, Any]) -> Any:
    """Refuse non-finite numbers (``inf``, ``nan``, ``1e999``) in any option, then run.

    Ranges are each command's business; no option of rdsproxyctl means "forever" or
    "not a number", and such a value would otherwise reach time-outs and sleeps.
    """
    import math

    from rdsproxyctl.errors import UsageError

    for param in ctx.command.params:
        value = values.get(param.name or "")
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, float) and not math.isfinite(item):
                flag = max(getattr(param, "opts", None) or [param.name or "?"], key=len)
                raise UsageError(f"{flag} must be a finite number, got {item!r}")
    return func(**values)


def root_callback(version_option: Any) -> Callable[..., Any]:
    """The root callback: stores the global options given before the command name."""

    def callback(ctx: typer.Context, **values: Any) -> None:
        values.pop("version", None)
        ctx.obj = GlobalOptions(**values)

    sig_params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    annotation=typer.Context)]
    sig_params.append(inspect.Parameter("version", inspect.Parameter.KEYWORD_ONLY,
                                        default=None, annotation=version_option))
    for name, annotation, default in ROOT_PARAMS:
        sig_params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                                            default=default, annotation=annotation))
    callback.__signature__ = inspect.Signature(sig_params)  # type: ignore[attr-defined]
    callback.__annotations__ = {p.name: p.annotation for p in sig_params}
    return callback
