"""connect: classification of every documented failure, and bad input refused up front."""

from __future__ import annotations

import pytest

from rdsproxyctl.core.connect import CLASS_EXIT_CODES, classify
from rdsproxyctl.core.load import percentile, summarize, validate
from rdsproxyctl.errors import UsageError

CTX = {"user": "app", "host": "p.proxy-x.us-east-1.rds.amazonaws.com", "port": 5432,
       "region": "us-east-1", "proxy": "p",
       "resource_arn": "arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-abc/app"}

# The client-facing messages of RDS Proxy's troubleshooting page, and libpq's own.
CASES = [
    ("authentication", "IAM authentication is allowed only with SSL connections.", "tls"),
    ("authentication", "This RDS Proxy requires TLS connections.", "tls"),
    ("authentication", "IAM authentication failed for user app. Check the IAM token for this "
                       "user and try again.", "iam-auth"),
    ("authentication", "This RDS proxy has no credentials for the role app. Check the "
                       "credentials for this role and try again.", "password-auth"),
    ("authentication", "The password that was provided for the role app is wrong.",
     "password-auth"),
    ("authentication", "RDS supports only IAM, MD5, or SCRAM authentication.", "password-auth"),
    ("authentication", "A user name is missing from the connection startup packet. Provide a "
                       "user name for this connection.", "unsupported-option"),
    ("authentication", "Feature not supported: RDS Proxy currently doesn't support the option "
                       "options.", "unsupported-option"),
    ("authentication", "Feature not supported: RDS Proxy currently doesn't support streaming "
                       "replication mode.", "unsupported-option"),
    ("authentication", "Feature not supported: RDS Proxy supports only version 3.0 of the "
                       "PostgreSQL messaging protocol.", "unsupported-option"),
    ("authentication", "The IAM authentication failed because of too many competing requests.",
     "proxy-limit"),
    ("authentication", "The maximum number of client connections to the proxy exceeded 100.",
     "proxy-limit"),
    ("authentication", "Rate of connection to proxy exceeded 50.", "proxy-limit"),
    ("authentication", "Timed-out waiting to acquire database connection.", "pool-timeout"),
    ("first_query", "Request returned an error: relation \"x\" does not exist.", "database"),
    ("tls_handshake", "SSL error: certificate verify failed", "tls"),
    ("tls_handshake", 'server certificate for "x" does not match host name "y"', "tls"),
    ("tcp_connect", 'connection to server at "10.0.0.1", port 5432 failed: Connection refused',
     "network"),
    ("tcp_connect", "no answer within 10 s", "network"),
    ("dns", "could not resolve nope.invalid: Name or service not known", "dns"),
    ("authentication", 'password authentication failed for user "app"', "password-auth"),
    ("first_query", "division by zero", "database"),
]


@pytest.mark.parametrize("phase, message, klass", CASES)
def test_every_documented_message_has_a_class_and_a_remedy(phase, message, klass):
    failure = classify(phase, f"connection to server failed: FATAL:  {message}", CTX)
    assert failure.klass == klass
    assert failure.exit_code == CLASS_EXIT_CODES[klass]
    assert failure.remedy and "{" not in failure.remedy


def test_iam_remedy_names_the_resource_arn_host_port_and_region():
    failure = classify("authentication", "IAM authentication failed for user app.", CTX)
    assert CTX["resource_arn"] in failure.remedy
    assert CTX["host"] in failure.remedy and "5432" in failure.remedy
    assert "us-east-1" in failure.remedy and "clock" in failure.remedy


def test_exit_codes_per_class():
    assert {k: int(v) for k, v in CLASS_EXIT_CODES.items()} == {
        "dns": 5, "network": 5, "tls": 5, "proxy-limit": 5, "pool-timeout": 5,
        "iam-auth": 4, "password-auth": 4, "unsupported-option": 2, "database": 1}


def test_percentiles():
    values = sorted(float(v) for v in range(1, 101))
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == \
        (50.0, 95.0, 99.0)
    assert percentile([], 50) == 0.0
    s = summarize({"total": [0.001, 0.002, 0.003]})
    assert (s["total"].p50, s["total"].max) == (2.0, 3.0)


@pytest.mark.parametrize("count, concurrency, hold", [(0, 1, 0), (5, 0, 0), (5, 10, 0),
                                                      (5, 2, -1), (5, 1001, 0)])
def test_load_validation(count, concurrency, hold):
    with pytest.raises(UsageError):
        validate(count, concurrency, hold)


@pytest.mark.parametrize("args, message", [
    (["p"], "exactly one of --iam, --secret ARN, --password-env"),
    (["p", "--iam", "--password-env", "X"], "exactly one"),
    (["--iam", "--user", "a"], "give a proxy NAME, or --host"),
    (["p", "--host", "h", "--password-env", "HOME"], "not both"),
    (["p", "--iam"], "--iam needs --user"),
    (["p", "--iam", "--user", "a", "--sslmode", "bogus"], "is not one of disable, allow"),
    (["p", "--iam", "--user", "a", "--ca-bundle", "/nonexistent.pem"], "no such file"),
    (["p", "--password-env", "RDSPROXYCTL_NOT_SET_X"], "that variable is not set"),
    (["p", "--iam", "--user", "a", "--count", "0"], "--count must be 1-1000000"),
    (["p", "--iam", "--user", "a", "--count", "1000001"], "--count must be 1-1000000"),
    (["p", "--iam", "--user", "a", "--count", "5", "--hold", "nan"], "'nan' is not a duration"),
    (["p", "--iam", "--user", "a", "--count", "5", "--concurrency", "1", "--hold", "3601"], "--hold must be 0-3600"),
    (["p", "--iam", "--user", "a", "--connect-timeout", "inf"],
     "'inf' is not a duration"),
    (["p", "--iam", "--user", "a", "--connect-timeout", "nan"],
     "'nan' is not a duration"),
    (["p", "--iam", "--user", "a", "--connect-timeout", "1e309"], "is not a duration"),
    (["p", "--iam", "--user", "a", "--connect-timeout", "1000000000000"], "at most 3600 seconds"),
    (["p", "--iam", "--user", "a", "--connect-timeout", "0"], "more than 0"),
    (["p", "--iam", "--user", "a", "--sslmode", "prefer"], "the token would be sent to a "
     "server that may not use TLS"),
    (["p", "--iam", "--user", "a", "--sslmode", "disable"], "may not use TLS"),
    (["--host", "bad host", "--password-env", "HOME"], "is not a host name"),
    (["--host", "h\x1b[2J", "--password-env", "HOME"], "is not a host name"),
    (["p", "--iam", "--user", "a", "--count", "5", "--concurrency", "10"], "more than --count"),
])
def test_bad_input_exits_2_before_any_call(moto, cli, args, message):
    out = cli("connect", *args, code=2)
    assert message in out.stderr and out.stdout == ""
