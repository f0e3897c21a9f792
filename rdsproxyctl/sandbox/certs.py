"""A throwaway CA and one server certificate for the whole sandbox.

The certificate covers every loopback address a proxy endpoint or PostgreSQL may use
(IP SANs ``127.0.0.1`` to ``127.0.0.254``, plus ``localhost``), so clients connect with
``sslmode=verify-full`` and ``sslrootcert=ca.pem`` and nothing else.  ``dns_names``
adds the wildcard names of the sandbox's RDS host names (:mod:`.hostnames`), so a
client dialing ``NAME.proxy-ID.REGION.rds.amazonaws.com`` verifies it too.  The CA's key is
never written to disk: nothing else can be signed with it.  ECDSA P-256 keys: fast to
make and to handshake with.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
from pathlib import Path

VALID_DAYS = 397


def make(directory: Path, *, ca_file: str, cert_file: str, key_file: str,
         last_host: int = 254, dns_names: list[str] | tuple[str, ...] = ()) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(hours=1)
    until = now + _dt.timedelta(days=VALID_DAYS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rdsproxyctl sandbox"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "rdsproxyctl sandbox CA")])
    ca = (x509.CertificateBuilder()
          .subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(until)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))

    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName("localhost")]
    sans += [x509.DNSName(name) for name in dns_names]
    sans += [x509.IPAddress(ipaddress.IPv4Address(f"127.0.0.{n}")) for n in range(1, last_host + 1)]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(until)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))

    directory.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    (directory / ca_file).write_bytes(ca.public_bytes(pem))
    (directory / cert_file).write_bytes(cert.public_bytes(pem))
    key_path = directory / key_file
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
