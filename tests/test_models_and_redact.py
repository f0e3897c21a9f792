"""Pure functions: dataclass building, summaries, JSON form, redaction."""

from __future__ import annotations

import datetime as dt

from rdsproxyctl.core.models import (
    AuthEntry,
    Proxy,
    Target,
    TargetHealth,
    arn_parts,
    health_summary,
    summarize_iam,
    to_jsonable,
)
from rdsproxyctl.core.redact import REDACTED, redact, redact_text


def entry(iam: str | None) -> AuthEntry:
    return AuthEntry(auth_scheme="SECRETS", secret_arn="arn", iam_auth=iam)


def test_iam_summary():
    assert summarize_iam(None, [entry("REQUIRED"), entry("REQUIRED")]) == "REQUIRED"
    assert summarize_iam(None, [entry("REQUIRED"), entry("DISABLED")]) == "MIXED"
    assert summarize_iam(None, [entry(None)]) == "DISABLED"
    assert summarize_iam("IAM_AUTH", []) == "END_TO_END"
    assert summarize_iam("NONE", []) == "NONE"


def test_health_summary():
    def t(state):
        return Target(None, None, None, None, "x", None, None, TargetHealth(state))
    assert health_summary([]) == "no targets"
    assert health_summary([t("AVAILABLE"), t("UNAVAILABLE")]) == "1/2 available"


def test_proxy_properties_from_the_arn():
    p = Proxy.from_api({"DBProxyName": "demo", "EngineFamily": "MYSQL",
                        "DBProxyArn": "arn:aws:rds:eu-west-1:111122223333:db-proxy:prx-0abc",
                        "CreatedDate": dt.datetime(2024, 1, 2, 3, 4, 5)})
    assert (p.resource_id, p.region, p.account_id, p.port, p.log_group) == \
        ("prx-0abc", "eu-west-1", "111122223333", 3306, "/aws/rds/proxy/demo")
    data = to_jsonable(p)
    assert data["created_date"] == "2024-01-02T03:04:05+00:00"
    assert data["resource_id"] == "prx-0abc" and data["auth"] == []
    assert arn_parts("not-an-arn")["resource"] == "not-an-arn"


def test_redact_secret_keys_tokens_and_passwords():
    token = ("p.proxy-x.us-east-1.rds.amazonaws.com:5432/?Action=connect&DBUser=app"
             "&X-Amz-Security-Token=FQoGZXIvYXdz&X-Amz-Signature=0123abcd")
    out = redact({"SecretString": '{"password":"x"}', "Name": "ok", "Nested": [{"Password": "p"}],
                  "Blob": b"\x00\x01", "Token": token, "Empty": ""})
    assert out["SecretString"] == REDACTED and out["Nested"][0]["Password"] == REDACTED
    assert out["Name"] == "ok" and out["Blob"] == "<2 bytes>" and out["Empty"] == ""
    assert out["Token"] == REDACTED
    text = redact_text(token)
    assert "0123abcd" not in text and "FQoGZXIvYXdz" not in text and "DBUser=app" in text
    assert redact_text("host=h password=hunter2 user=u") == f"host=h password={REDACTED} user=u"
    assert redact_text("postgresql://app:hunter2@h/db") == f"postgresql://app:{REDACTED}@h/db"
