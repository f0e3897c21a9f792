"""SCRAM-SHA-256 (RFC 5802 / RFC 7677) on both sides, and PostgreSQL's MD5 password.

The proxy is a SCRAM *server* to clients whose auth entry says
``POSTGRES_SCRAM_SHA_256`` (checked against the password in the entry's secret) and a
SCRAM *client* to PostgreSQL when it logs in with that secret.  Channel binding
(SCRAM-SHA-256-PLUS) is not offered, as RDS Proxy does not offer it either.
Passwords are NFKC-normalised, which is what SASLprep does to any password a person
types; PostgreSQL's stricter fallbacks for invalid strings are not reproduced.

https://www.postgresql.org/docs/current/sasl-authentication.html
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import unicodedata
from dataclasses import dataclass

MECHANISM = "SCRAM-SHA-256"
ITERATIONS = 4096


class ScramError(Exception):
    """A malformed or failed exchange."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def _normalize(password: str) -> bytes:
    return unicodedata.normalize("NFKC", password).encode("utf-8")


@functools.lru_cache(maxsize=256)
def salted_password(password: str, salt: bytes, iterations: int) -> bytes:
    """PBKDF2 over the password (cached: each backend login would otherwise pay ~2 ms)."""
    return hashlib.pbkdf2_hmac("sha256", _normalize(password), salt, iterations)


@dataclass(frozen=True)
class Verifier:
    """What a server keeps for a password: salt, iterations, StoredKey, ServerKey."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes

    @classmethod
    def from_password(cls, password: str, salt: bytes | None = None,
                      iterations: int = ITERATIONS) -> Verifier:
        salt = salt if salt is not None else os.urandom(16)
        sp = salted_password(password, salt, iterations)
        client_key = _hmac(sp, b"Client Key")
        return cls(salt, iterations, hashlib.sha256(client_key).digest(), _hmac(sp, b"Server Key"))


def _attributes(message: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in message.split(","):
        if len(part) < 2 or part[1] != "=":
            raise ScramError(f"malformed SCRAM attribute {part[:20]!r}")
        out[part[0]] = part[2:]
    return out


class ScramServer:
    """One server-side exchange: ``first(client_first) -> server_first``,
    ``final(client_final) -> server_final`` (raises :class:`ScramError` on failure)."""

    def __init__(self, verifier: Verifier, nonce: str | None = None) -> None:
        self.verifier = verifier
        self.server_nonce = nonce or _b64(os.urandom(18))
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._gs2 = ""

    def first(self, client_first: str) -> str:
        if client_first.startswith("p="):
            raise ScramError("channel binding was requested but is not offered")
        if not client_first.startswith(("n,", "y,")):
            raise ScramError("malformed GS2 header")
        parts = client_first.split(",", 2)
        if len(parts) != 3:
            raise ScramError("malformed client-first-message")
        self._gs2 = f"{parts[0]},{parts[1]},"
        self._client_first_bare = parts[2]
        attrs = _attributes(self._client_first_bare)
        client_nonce = attrs.get("r", "")
        if not client_nonce or "m" in attrs:
            raise ScramError("client nonce missing")
        self._nonce = client_nonce + self.server_nonce
        v = self.verifier
        self._server_first = f"r={self._nonce},s={_b64(v.salt)},i={v.iterations}"
        return self._server_first

    def final(self, client_final: str) -> str:
        without_proof, sep, proof_b64 = client_final.rpartition(",p=")
        if not sep:
            raise ScramError("client proof missing")
        attrs = _attributes(without_proof)
        expected_binding = _b64(self._gs2.encode())
        if attrs.get("c") != expected_binding:
            raise ScramError("channel binding data does not match")
        if attrs.get("r") != self._nonce:
            raise ScramError("nonce does not match")
        try:
            proof = base64.b64decode(proof_b64, validate=True)
        except ValueError:
            raise ScramError("malformed client proof") from None
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        signature = _hmac(self.verifier.stored_key, auth_message)
        if len(proof) != len(signature):
            raise ScramError("malformed client proof")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), self.verifier.stored_key):
            raise ScramError("wrong password")
        return "v=" + _b64(_hmac(self.verifier.server_key, auth_message))


class ScramClient:
    """One client-side exchange against a PostgreSQL server."""

    def __init__(self, password: str, nonce: str | None = None) -> None:
        self.password = password
        self.client_nonce = nonce or _b64(os.urandom(18))
        self._bare = f"n=,r={self.client_nonce}"
        self._server_signature = b""

    def first(self) -> str:
        return "n,," + self._bare

    def final(self, server_first: str) -> str:
        attrs = _attributes(server_first)
        nonce, salt, iterations = attrs.get("r", ""), attrs.get("s", ""), attrs.get("i", "")
        if not nonce.startswith(self.client_nonce) or not salt or not iterations.isdigit():
            raise ScramError("malformed server-first-message")
        sp = salted_password(self.password, base64.b64decode(salt), int(iterations))
        client_key = _hmac(sp, b"Client Key")
        without_proof = f"c=biws,r={nonce}"
        auth_message = f"{self._bare},{server_first},{without_proof}".encode()
        signature = _hmac(hashlib.sha256(client_key).digest(), auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._server_signature = _hmac(_hmac(sp, b"Server Key"), auth_message)
        return f"{without_proof},p={_b64(proof)}"

    def verify(self, server_final: str) -> None:
        attrs = _attributes(server_final)
        if "e" in attrs:
            raise ScramError(f"server error: {attrs['e']}")
        if base64.b64decode(attrs.get("v", "")) != self._server_signature:
            raise ScramError("the server's signature does not match")


def md5_password(user: str, password: str, salt: bytes) -> str:
    """What a client sends for AuthenticationMD5Password: ``md5`` + hex digest."""
    inner = hashlib.md5((password + user).encode("utf-8")).hexdigest()  # noqa: S324 - protocol
    return "md5" + hashlib.md5(inner.encode("ascii") + salt).hexdigest()  # noqa: S324


def check_md5(user: str, password: str, salt: bytes, answer: str) -> bool:
    # bytes: compare_digest raises TypeError on non-ASCII str
    return hmac.compare_digest(md5_password(user, password, salt).encode(),
                               answer.encode("utf-8", "surrogateescape"))
