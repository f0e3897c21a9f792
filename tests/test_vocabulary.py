"""One vocabulary: every flag of every command has one meaning, one type and one default.

The commands are walked from the app itself, so a new command (or a new group) is checked
without changing this file; a new flag must be added to cli/options.py's VOCABULARY.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest
import typer

from rdsproxyctl.cli.app import app
from rdsproxyctl.cli.options import DEPRECATED, VOCABULARY, duration_text
from rdsproxyctl.cli.runtime import rewrite_deprecated

#: click's type name for each kind of the vocabulary.
CLICK_TYPE = {"text": "str", "time": "str", "integer": "int", "number": "float",
              "duration": "duration", "path": "path", "choice": "choice",
              "flag": "boolean", "switch": "boolean"}


def walk(cmd: Any, ctx: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    if hasattr(cmd, "list_commands"):
        yield " ".join(path), cmd  # a group's own options (the root's global options)
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            yield from walk(sub, typer.Context(sub, info_name=name, parent=ctx), (*path, name))
    else:
        yield " ".join(path), cmd


def all_options() -> list[tuple[str, Any]]:
    root = typer.main.get_command(app)
    ctx = typer.Context(root, info_name="rdsproxyctl")
    return [(path, p) for path, cmd in walk(root, ctx) for p in cmd.params
            if p.param_type_name == "option"]


OPTIONS = all_options()


def kind_of(param: Any) -> str:
    if param.is_flag:
        return "switch" if param.secondary_opts else "flag"
    return param.type.name.replace(" range", "")  # int range, float range: int, float


def test_the_walk_reaches_every_command():
    paths = {path for path, _ in OPTIONS}
    assert {"", "list", "show", "token", "connect", "diagnose", "create", "wait",
            "targets add", "iam policy", "endpoints create", "logs tail", "logs summary",
            "sandbox up"} <= paths
    assert len(OPTIONS) > 200


@pytest.mark.parametrize("path,param", OPTIONS,
                         ids=[f"{path or 'root'}:{p.opts[0]}" for path, p in OPTIONS])
def test_each_flag_has_the_vocabulary_meaning_type_and_default(path, param):
    longs = [o for o in param.opts if o.startswith("--")]
    assert len(longs) == 1, (path, param.opts)
    term = VOCABULARY.get(longs[0])
    assert term is not None, f"{path}: {longs[0]} is not in cli/options.py's VOCABULARY"
    shorts = [o for o in param.opts if not o.startswith("--")]
    assert shorts == ([term.short] if term.short else []), (path, param.opts)
    assert kind_of(param) == CLICK_TYPE[term.kind] or kind_of(param) == term.kind, (
        path, longs[0], kind_of(param), term.kind)
    if term.kind == "switch":
        assert param.secondary_opts == [f"--no-{term.flag[2:]}"]
    if term.kind == "choice":
        assert tuple(param.type.choices) == term.choices, (path, longs[0])
    assert (param.help or "").startswith(term.meaning), (path, longs[0], param.help)
    default = param.default
    if default not in (None, ()) and term.default is not None and term.vary is None:
        assert default == term.default, (path, longs[0], default, term.default)


def test_a_short_flag_means_one_long_flag():
    pairs: dict[str, set[str]] = {}
    for _, param in OPTIONS:
        long = next(o for o in param.opts if o.startswith("--"))
        for short in (o for o in param.opts if not o.startswith("--")):
            pairs.setdefault(short, set()).add(long)
    assert {s: ls for s, ls in pairs.items() if len(ls) > 1} == {}


def test_every_vocabulary_term_is_used():
    used = {o for _, p in OPTIONS for o in p.opts}
    assert set(VOCABULARY) - used == set()


def test_deprecated_spellings_are_not_live_flags_and_point_at_live_ones():
    by_path: dict[str, set[str]] = {}
    for path, param in OPTIONS:
        by_path.setdefault(path, set()).update(param.opts)
    for (path, old), new in DEPRECATED.items():
        assert path in by_path, path
        assert old not in by_path[path], (path, old)
        assert new in by_path[path], (path, new)


def test_old_spellings_are_rewritten_with_a_warning():
    warnings: list[str] = []
    args = rewrite_deprecated("endpoints create", ["demo", "ro", "--role", "read-only"],
                              warnings.append)
    assert args == ["demo", "ro", "--target-role", "read-only"]
    assert "--role is deprecated in `endpoints create`: use --target-role" in warnings[0]
    assert rewrite_deprecated("token", ["-fjson"]) == ["--format=json"]
    assert rewrite_deprecated("logs summary", ["x", "--all=1"]) == ["x", "--include-info=1"]
    assert rewrite_deprecated("diagnose", ["--all"]) == ["--all"]  # --all is live there
    assert rewrite_deprecated("token", ["--", "-f"]) == ["--", "-f"]


def test_token_still_accepts_dash_f_for_one_release(cli):
    out = cli("token", "--host", "h.example.com", "--region", "us-east-1", "--user", "app",
              "-f", "json")
    assert out.json()["host"] == "h.example.com"
    assert "warning: -f is deprecated in `token`: use --format" in out.stderr


def test_duration_text():
    assert [duration_text(s) for s in (1200, 90, 5400, 3600, 1.5)] == [
        "20m", "90s", "1h30m", "1h", "1.5s"]
