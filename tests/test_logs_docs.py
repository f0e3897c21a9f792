"""docs/signatures.md is generated from the catalog; the logs commands start cheaply."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rdsproxyctl.devtools import gendocs


def test_signatures_md_is_generated_and_fresh():
    assert "docs/signatures.md" in gendocs.GENERATORS
    current = (gendocs.ROOT / "docs" / "signatures.md").read_text()
    assert current == gendocs.signatures_reference(), (
        "docs/signatures.md is stale: run python -m rdsproxyctl.devtools.gendocs")


def test_signatures_md_documents_every_row():
    from rdsproxyctl.core.logs.signatures import SIGNATURES

    text = gendocs.signatures_reference()
    for sig in SIGNATURES:
        assert f"\n## {sig.id}\n" in text and sig.remedy in text and sig.doc in text


@pytest.mark.parametrize("argv", [["logs", "--help"], ["logs", "tail", "--help"],
                                  ["logs", "summary", "--help"], ["logs", "classify", "--help"]])
def test_logs_help_imports_no_aws_or_database_library(argv):
    code = ("import sys\n"
            "from rdsproxyctl.cli.app import app\n"
            f"try:\n    app({argv!r}, prog_name='rdsproxyctl')\n"
            "except SystemExit:\n    pass\n"
            "heavy = [m for m in ('boto3', 'botocore', 'psycopg') if m in sys.modules]\n"
            "print('HEAVY', heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout[-500:]
