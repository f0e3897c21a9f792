"""The sandbox touches only what is its own: `down` deletes nothing in a directory that is
not a sandbox; log files are created 0600 (also when the directory existed); `up` warns
that its AWS API accepts any credentials."""

from __future__ import annotations

import os
import stat

from rdsproxyctl.sandbox import state as st


def test_down_on_a_directory_that_is_not_a_sandbox_deletes_nothing(cli, tmp_path):
    mine = tmp_path / "certs"
    mine.mkdir()
    files = {"ca.pem": "my CA", "server.key": "my key", "server.pem": "my cert",
             "daemon.log": "my log", "notes.txt": "mine"}
    for name, text in files.items():
        (mine / name).write_text(text)
    out = cli("sandbox", "down", "--dir", str(mine))
    assert "nothing stopped or deleted" in out.stderr
    assert sorted(p.name for p in mine.iterdir()) == sorted(files)  # not even a .lock
    assert all((mine / n).read_text() == t for n, t in files.items())


def test_a_state_file_without_the_sandbox_marker_is_not_one(tmp_path):
    (tmp_path / st.STATE_FILE).write_text('{"something": "else"}')
    assert not st.is_sandbox(tmp_path)
    (tmp_path / st.STATE_FILE).write_text('{"version": 1, "postgres": {}}')
    assert st.is_sandbox(tmp_path)


def test_log_files_are_private_even_in_an_existing_directory(tmp_path):
    from rdsproxyctl.sandbox.emulator.logs import LogShipper

    old = tmp_path / "daemon.log"
    old.write_text("from before\n")
    os.chmod(old, 0o644)
    with st.open_private(old, "ab") as f:
        f.write(b"more\n")
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert old.read_text() == "from before\nmore\n"
    shipper = LogShipper(control=None, file=tmp_path / "emulator.log")
    try:
        assert stat.S_IMODE((tmp_path / "emulator.log").stat().st_mode) == 0o600
    finally:
        shipper._file.close()


def test_up_warns_that_the_api_accepts_any_credentials():
    from rdsproxyctl.cli.sandbox import OPEN_API_WARNING

    assert "accepts any credentials" in OPEN_API_WARNING
    text = (st.Path(__file__).resolve().parents[1] / "docs" / "sandbox.md").read_text()
    assert "accepts any credentials" in text
