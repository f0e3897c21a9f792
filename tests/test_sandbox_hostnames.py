"""The sandbox's RDS host names: the hosts block it owns, the names, the certificate."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from rdsproxyctl.sandbox import certs, hostnames

OTHERS = "127.0.0.1 localhost\n::1 ip6-localhost\n# a comment someone wrote\n10.0.0.5 db.internal\n"


@pytest.fixture
def hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "hosts"
    path.write_text(OTHERS)
    monkeypatch.setenv(hostnames.ENV_FILE, str(path))
    monkeypatch.delenv(hostnames.ENV_SWITCH, raising=False)
    return path


def test_names_have_rds_formats() -> None:
    ident, region = "abcdefgh1234", "eu-west-1"
    assert hostnames.proxy_name("Demo", ident, region) == \
        "demo.proxy-abcdefgh1234.eu-west-1.rds.amazonaws.com"
    assert hostnames.endpoint_name("ro", ident, region) == \
        "ro.endpoint.proxy-abcdefgh1234.eu-west-1.rds.amazonaws.com"
    assert hostnames.cluster_name("c1", ident, region, reader=True) == \
        "c1.cluster-ro-abcdefgh1234.eu-west-1.rds.amazonaws.com"
    assert hostnames.instance_name("c1-1", ident, region) == \
        "c1-1.abcdefgh1234.eu-west-1.rds.amazonaws.com"
    ident = hostnames.new_identifier()
    assert len(ident) == 12 and ident.isalnum() and ident == ident.lower() and ident[0].isalpha()


def test_rdsproxyctl_sees_them_as_rds_names() -> None:
    from rdsproxyctl.core import tokens

    info = tokens.classify_host(hostnames.proxy_name("demo", "abcdefgh1234", "eu-west-1"))
    assert info.kind == "proxy" and info.region == "eu-west-1"


def test_block_is_written_and_removed_leaving_other_lines(hosts: Path) -> None:
    block = hostnames.HostsBlock("/sandbox/one", hosts)
    block.write({"a.proxy-x.eu-west-1.rds.amazonaws.com": "127.0.0.7"})
    other = hostnames.HostsBlock("/sandbox/two", hosts)
    other.write({"b.proxy-y.eu-west-1.rds.amazonaws.com": "127.0.0.8"})
    text = hosts.read_text()
    assert text.startswith(OTHERS)
    assert "127.0.0.7\ta.proxy-x.eu-west-1.rds.amazonaws.com" in text
    assert block.entries() == {"a.proxy-x.eu-west-1.rds.amazonaws.com": "127.0.0.7"}
    block.write({"c.proxy-x.eu-west-1.rds.amazonaws.com": "127.0.0.9"})  # replaces, not appends
    assert block.entries() == {"c.proxy-x.eu-west-1.rds.amazonaws.com": "127.0.0.9"}
    assert other.entries() == {"b.proxy-y.eu-west-1.rds.amazonaws.com": "127.0.0.8"}
    block.remove()
    assert block.entries() == {}
    assert "/sandbox/one" not in hosts.read_text()
    other.remove()
    assert hosts.read_text() == OTHERS


def test_write_keeps_the_file_mode(hosts: Path) -> None:
    os.chmod(hosts, 0o644)
    hostnames.HostsBlock("/s", hosts).write({"n.example": "127.0.0.2"})
    assert oct(hosts.stat().st_mode & 0o777) == "0o644"


@pytest.mark.parametrize("name,address", [("a b", "127.0.0.2"), ("x#y", "127.0.0.2"),
                                          ("", "127.0.0.2"), ("n", "127.0.0.2\n1.2.3.4 evil")])
def test_bad_entries_are_refused_and_nothing_changes(hosts: Path, name: str,
                                                     address: str) -> None:
    with pytest.raises(ValueError):
        hostnames.HostsBlock("/s", hosts).write({name: address})
    assert hosts.read_text() == OTHERS


def test_an_owner_is_one_line() -> None:
    with pytest.raises(ValueError):
        hostnames.HostsBlock("/a\n127.0.0.1 evil")


@settings(max_examples=40, deadline=None)
@given(hs.dictionaries(hs.from_regex(r"[a-z][a-z0-9-]{0,20}\.rds\.amazonaws\.com", fullmatch=True),
                       hs.integers(2, 254).map(lambda n: f"127.0.0.{n}"), max_size=5),
       hs.text(alphabet=hs.characters(blacklist_characters="\r\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
                                      blacklist_categories=("Cs",)), max_size=80))
def test_round_trip_and_others_untouched(tmp_path_factory: pytest.TempPathFactory,
                                         entries: dict[str, str], prefix: str) -> None:
    path = tmp_path_factory.mktemp("h") / "hosts"
    path.write_text(prefix)
    block = hostnames.HostsBlock("/sandbox", path)
    block.write(entries)
    assert block.entries() == entries
    block.write({})
    expected = prefix
    assert path.read_text() in (expected, expected + "\n") if entries else path.read_text() == prefix


def test_fallback_when_switched_off_or_unwritable(hosts: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    block = hostnames.HostsBlock("/s", hosts)
    monkeypatch.setenv(hostnames.ENV_SWITCH, "0")
    mode = hostnames.choose(block, "abcdefgh1234", "eu-west-1")
    assert mode.kind == "addresses" and hostnames.ENV_SWITCH in mode.reason
    assert hosts.read_text() == OTHERS
    monkeypatch.delenv(hostnames.ENV_SWITCH)
    assert hostnames.choose(block, None, "eu-west-1").kind == "addresses"
    missing = hostnames.HostsBlock("/s", hosts.parent / "nope")
    assert "does not exist" in (hostnames.choose(missing, "abcdefgh1234", "eu-west-1").reason)


def test_fallback_when_the_resolver_does_not_read_the_file(hosts: Path) -> None:
    # a file that is not /etc/hosts: written, but the resolver never sees it
    block = hostnames.HostsBlock("/s", hosts)
    mode = hostnames.choose(block, "abcdefgh1234", "eu-west-1")
    assert mode.kind == "addresses" and "do not resolve" in mode.reason
    assert hosts.read_text() == OTHERS  # the probe was taken back
    names = hostnames.Names(block, "abcdefgh1234", "eu-west-1", mode)
    assert names.publish_endpoint("p", "default", "127.0.0.5") == "127.0.0.5"


def test_names_table_mirrors_the_block(hosts: Path) -> None:
    block = hostnames.HostsBlock("/s", hosts)
    mode = hostnames.Mode("hostnames", str(hosts), "test")
    names = hostnames.Names(block, "abcdefgh1234", "eu-west-1", mode)
    name = names.publish_endpoint("Demo", "default", "127.0.0.5")
    assert name == "demo.proxy-abcdefgh1234.eu-west-1.rds.amazonaws.com"
    ro = names.publish_endpoint("demo", "reader", "127.0.0.6")
    assert ro == "reader.endpoint.proxy-abcdefgh1234.eu-west-1.rds.amazonaws.com"
    assert block.entries()[name] == "127.0.0.5" and names.address_of(ro) == "127.0.0.6"
    names.drop(name)
    assert name not in block.entries() and ro in block.entries()
    names.clear()
    assert hosts.read_text() == OTHERS


def test_certificate_covers_the_names(tmp_path: Path) -> None:
    import ssl

    from cryptography import x509

    ident, region = "abcdefgh1234", "eu-west-1"
    certs.make(tmp_path, ca_file="ca.pem", cert_file="c.pem", key_file="k.pem",
               dns_names=hostnames.wildcards(ident, region))
    cert = x509.load_pem_x509_certificate((tmp_path / "c.pem").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = sans.get_values_for_type(x509.DNSName)
    assert "*.proxy-abcdefgh1234.eu-west-1.rds.amazonaws.com" in dns
    assert "*.cluster-ro-abcdefgh1234.eu-west-1.rds.amazonaws.com" in dns
    # what a verify-full client does with it: a handshake checking the host name
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    client = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    assert _handshake(server, client, hostnames.proxy_name("demo", ident, region))
    assert _handshake(server, client, hostnames.endpoint_name("ro", ident, region))
    assert _handshake(server, client, hostnames.cluster_name("c", ident, region, reader=True))
    assert not _handshake(server, client, hostnames.proxy_name("demo", "otherident00", region))


def _handshake(server_ctx: object, client_ctx: object, name: str) -> bool:
    import ssl

    a, b, c, d = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(a, b, server_hostname=name)  # type: ignore[attr-defined]
    server = server_ctx.wrap_bio(c, d, server_side=True)  # type: ignore[attr-defined]
    for _ in range(10):
        for side, inbox, outbox, peer_in in ((client, a, b, c), (server, c, d, a)):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLCertVerificationError:
                return False
            except ssl.SSLError:
                if side is server:
                    continue
                raise
            data = outbox.read()
            if data:
                peer_in.write(data)
        try:
            client.do_handshake()
            return True
        except ssl.SSLWantReadError:
            continue
        except ssl.SSLCertVerificationError:
            return False
    return False
