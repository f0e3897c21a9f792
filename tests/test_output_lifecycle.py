"""Progress on a terminal shows plan steps literally (they carry user text)."""

from __future__ import annotations

import io

from rdsproxyctl.cli.output import Renderer


def test_status_on_a_terminal_shows_brackets_literally():
    err = io.StringIO()
    renderer = Renderer(stdout=io.StringIO(), stderr=err, terminal=True, color=False)
    with renderer.status("[1/2] ModifyDBProxyTargetGroup: InitQuery=SELECT '[/oops]'") as update:
        update("[2/2] RegisterDBProxyTargets: [bold]db1[/bold]")
    renderer.info("done")
    assert "done" in err.getvalue()
