"""The redactor: each pattern a secret hides in, as text, JSON and a log line."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rdsproxyctl.core.redact import REDACTED, redact_text

TEMPLATES = [
    "ALTER ROLE app PASSWORD '{s}'",
    "CREATE ROLE app WITH LOGIN ENCRYPTED PASSWORD '{s}' VALID UNTIL 'infinity'",
    "alter user app with password '{s}';",
    '{{"username": "app", "password": "{s}"}}',
    '{{"SecretAccessKey":"{s}","AccessKeyId":"AKIA0"}}',
    "{{'Password': '{s}', 'Name': 'ok'}}",
    "AWS_SECRET_ACCESS_KEY={s}",
    'export AWS_SECRET_ACCESS_KEY="{s}"',
    "AWS_SESSION_TOKEN={s} aws rds describe-db-proxies",
    "host=h port=5432 password={s} user=u",
    "postgresql://app:{s}@h:5432/app",
    "h:5432/?Action=connect&DBUser=u&X-Amz-Signature={s}",
]


@pytest.mark.parametrize("template", TEMPLATES)
def test_each_pattern_is_redacted(template):
    text = template.format(s="hunter2-Secret")
    out = redact_text(text)
    assert "hunter2-Secret" not in out and REDACTED in out


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(TEMPLATES),
       st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126,
                                      blacklist_characters="'\"\\&;,@{}"),
               min_size=6, max_size=30))
def test_random_secrets_never_survive(template, secret):
    assume(secret not in template and secret not in REDACTED)
    assert secret not in redact_text(template.format(s=secret))


@pytest.mark.parametrize("text", [
    "The password that was provided for the role app is wrong.",
    "SET password_encryption = 'scram-sha-256'",
    '{"username": "app", "password_hint": 3}',
    '{"name": "demo", "status": "available"}',
    "A new client connected from 10.0.1.12:55392.",
])
def test_ordinary_text_is_left_alone(text):
    assert redact_text(text) == text


def test_logs_classify_hides_sql_passwords_of_debug_logging(cli, tmp_path):
    line = ("2024-05-01T10:00:00.000Z [DEBUG] [proxyEndpoint=default] [clientConnection=1] "
            "The client sent: ALTER ROLE app PASSWORD 'hunter2-Secret'")
    path = tmp_path / "proxy.log"
    path.write_text(line + "\n")
    for fmt in ("table", "json", "tsv"):
        out = cli("logs", "classify", str(path), "-o", fmt)
        assert "hunter2-Secret" not in out.stdout and REDACTED in out.stdout
    event = json.loads(cli("logs", "classify", str(path), "-o", "json").stdout.splitlines()[0])
    assert "hunter2-Secret" not in json.dumps(event)
