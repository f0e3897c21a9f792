"""RDS host names end to end: a proxy's Endpoint is NAME.proxy-ID.REGION.rds.amazonaws.com,
resolves to its listener, verifies with the sandbox CA, and clients that insist on RDS
host names (AWS's Advanced Python Wrapper with its IAM plugin) connect unpatched."""

from __future__ import annotations

import socket

import pytest

pytestmark = pytest.mark.slow


def _names(sandbox) -> dict:
    from rdsproxyctl.sandbox import state as st

    names = (st.read_json(sandbox.directory / st.DAEMON_FILE) or {}).get("names") or {}
    if names.get("kind") != "hostnames":
        pytest.skip(f"this sandbox names endpoints by address: {names.get('reason')}")
    return names


def test_endpoint_is_an_rds_host_name_resolving_to_its_listener(sandbox):
    _names(sandbox)
    proxy = sandbox.make_proxy("names-proxy")
    host = proxy["Endpoint"]
    assert host.startswith("names-proxy.proxy-") and host.endswith(
        f".{sandbox.region}.rds.amazonaws.com")
    address = socket.gethostbyname(host)
    assert address.startswith("127.0.0.") and address != "127.0.0.1"
    with sandbox.connect(host, password=sandbox.token(host, "app")) as conn:  # verify-full
        assert conn.execute("SELECT 1").fetchone() == (1,)
    # a token signed for the address the name resolves to names the same endpoint
    with sandbox.connect(address, password=sandbox.token(address, "app"),
                         sslmode="verify-ca") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    ep = sandbox.client("rds").create_db_proxy_endpoint(
        DBProxyName="names-proxy", DBProxyEndpointName="names-extra",
        VpcSubnetIds=sandbox.seeded["subnet_ids"])["DBProxyEndpoint"]
    assert ep["Endpoint"].startswith("names-extra.endpoint.proxy-")
    with sandbox.connect(ep["Endpoint"], password=sandbox.token(ep["Endpoint"], "app")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    sandbox.client("rds").delete_db_proxy_endpoint(DBProxyEndpointName="names-extra")
    sandbox.client("rds").delete_db_proxy(DBProxyName="names-proxy")
    with pytest.raises(OSError):  # the name left the hosts block with the proxy
        socket.gethostbyname(ep["Endpoint"])


def test_aws_advanced_python_wrapper_iam_plugin_connects_by_host_name(sandbox, monkeypatch):
    _names(sandbox)
    wrapper = pytest.importorskip("aws_advanced_python_wrapper")
    import psycopg

    proxy = sandbox.make_proxy("names-wrapper")
    for key, value in sandbox.env.items():  # the wrapper signs with boto3's default chain
        monkeypatch.setenv(key, value)
    conn = wrapper.AwsWrapperConnection.connect(
        psycopg.Connection.connect, host=proxy["Endpoint"], port=5432, user="app",
        dbname="app", plugins="iam", sslmode="verify-full", sslrootcert=str(sandbox.ca_file),
        connect_timeout=10)
    try:
        cur = conn.cursor()
        cur.execute("SELECT current_user")
        assert cur.fetchone() == ("app",)
    finally:
        conn.close()
    assert sandbox.log_lines("names-wrapper", contains="IAM authentication succeeded")
    # ... and refuses the bare address, which is why the sandbox names endpoints
    from aws_advanced_python_wrapper.errors import AwsWrapperError

    with pytest.raises(AwsWrapperError, match="must be a valid RDS or Aurora endpoint"):
        wrapper.AwsWrapperConnection.connect(
            psycopg.Connection.connect, host=socket.gethostbyname(proxy["Endpoint"]),
            port=5432, user="app", dbname="app", plugins="iam", sslmode="verify-full",
            sslrootcert=str(sandbox.ca_file), connect_timeout=10)
    sandbox.client("rds").delete_db_proxy(DBProxyName="names-wrapper")
