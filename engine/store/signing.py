"""Signed rows: what a store writer without the signing key cannot make a server serve.

A fleet's sidecars share one database, and whoever can write to it could otherwise hand every
sidecar any policy set or org (a seat granted, a revocation undone). With a signing key,
`authz policy publish` and `authz org import` store an Ed25519 signature beside each row, and
`authz serve --verify-key` serves only rows whose signature verifies (OPA's signed bundles are
the model: the key that signs stays with the publisher, the servers hold only public keys).

What is signed is canonical bytes of exactly what is served, each with its kind: an org's id,
version and the sha256 of its text; a policy version's hash and the sha256 of its texts. So a
signature cannot be moved to another org, another version of it, or from an org to a policy.
It does not stop a writer from putting back an older row with its signature whole (a
rollback): docs/operations.md, "Trust model".

Keys are PEM: PKCS#8 for the private key (`openssl genpkey -algorithm ed25519` makes one, as
does `authz keys generate`), SubjectPublicKeyInfo for the public one. A stored signature is
`ed25519:KEYID:BASE64`, KEYID naming the public key, so a refusal can say which key signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from suite_authz.engine.core.errors import AuthzError
from suite_authz.engine.core.policy_files import PolicySource
from suite_authz.engine.core.reading import read_limited

# cryptography is imported where a key is used: a store without signatures, and every command
# that never opens a key, does not pay for loading it (tests/cli/test_startup.py)
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

KEY_BYTES = 16 << 10  # a PEM key is a few hundred bytes: anything far larger is not one
SIGNING_KEY_FILE = "signing-key.pem"
VERIFY_KEY_FILE = "verify-key.pem"


class KeyFileError(AuthzError):
    """A key file that cannot be used: missing, exposed, not an Ed25519 PEM key."""


class UnverifiedRow(AuthzError):
    """A stored row a server will not serve: no signature, a signature that does not verify,
    or a text that does not match its own stored hash."""


def _canonical(fields: dict[str, object]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def policy_text(source: PolicySource) -> str:
    """A policy set's texts as stored and signed: one JSON text, keys sorted."""
    return json.dumps(source.to_json(), sort_keys=True)


def org_message(org_id: str, version: int, text: str) -> bytes:
    return _canonical(
        {"signed": "suite-authz org", "org": org_id, "version": version, "sha256": sha256(text)}
    )


def change_message(org_id: str, version: int, text: str) -> bytes:
    """A change set that made `version` of the org from the version before (its own domain:
    never verifiable as a snapshot's signature, nor a snapshot's as a change's)."""
    return _canonical(
        {
            "signed": "suite-authz org change",
            "org": org_id,
            "version": version,
            "sha256": sha256(text),
        }
    )


def policy_message(version: str, text: str) -> bytes:
    return _canonical({"signed": "suite-authz policy", "version": version, "sha256": sha256(text)})


def key_id(public: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    """The publisher's private key: signs the rows `policy publish` and `org import` store."""

    key: Ed25519PrivateKey
    path: Path

    @property
    def verifier(self) -> Verifier:
        return Verifier((self.key.public_key(),), (self.path,))

    def sign(self, message: bytes) -> str:
        signature = base64.b64encode(self.key.sign(message)).decode()
        return f"ed25519:{key_id(self.key.public_key())}:{signature}"

    def sign_org(self, org_id: str, version: int, text: str) -> str:
        return self.sign(org_message(org_id, version, text))

    def sign_change(self, org_id: str, version: int, text: str) -> str:
        return self.sign(change_message(org_id, version, text))

    def sign_policy(self, version: str, text: str) -> str:
        return self.sign(policy_message(version, text))


@dataclass(frozen=True)
class Verifier:
    """The public keys a server accepts (more than one while a signing key is rotated)."""

    keys: tuple[Ed25519PublicKey, ...]
    paths: tuple[Path, ...]

    def check(self, message: bytes, signature: str | None, what: str) -> None:
        """Return if `signature` is one of our keys' over `message`, else UnverifiedRow."""
        from cryptography.exceptions import InvalidSignature

        if not signature:
            raise UnverifiedRow(f"{what}: not signed (servers verify signatures): not served")
        scheme, _, rest = signature.partition(":")
        kid, _, encoded = rest.partition(":")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if scheme != "ed25519" or not raw:
            raise UnverifiedRow(f"{what}: its signature is malformed: not served")
        for key in self.keys:
            if key_id(key) == kid:
                try:
                    key.verify(raw, message)
                except InvalidSignature:
                    break
                return
        else:
            raise UnverifiedRow(
                f"{what}: signed by key `{kid}`, not one of the verify keys "
                f"({', '.join(f'`{key_id(k)}`' for k in self.keys)}): not served"
            )
        raise UnverifiedRow(f"{what}: its signature does not verify: not served")

    def check_org(self, org_id: str, version: int, text: str, signature: str | None) -> None:
        where = f"org `{org_id}` version {version}"
        self.check(org_message(org_id, version, text), signature, where)

    def check_change(self, org_id: str, version: int, text: str, signature: str | None) -> None:
        where = f"the change making org `{org_id}` version {version}"
        self.check(change_message(org_id, version, text), signature, where)

    def check_policy(self, version: str, text: str, signature: str | None) -> None:
        self.check(policy_message(version, text), signature, f"policy version {version}")

    def describe(self) -> list[str]:
        return [key_id(k) for k in self.keys]


def load_signer(path: Path) -> Signer:
    """The private key in `path` (PEM, PKCS#8, unencrypted), readable by its owner alone."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
    )

    data = read_limited(path, "signing key", KeyFileError, KEY_BYTES, private=True)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        why = str(exc).split("\n")[0] or type(exc).__name__
        raise KeyFileError(f"{path}: not an unencrypted PEM private key: {why}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 private key ({type(key).__name__})")
    return Signer(key, path)


def load_verifier(paths: Sequence[Path]) -> Verifier:
    """The public keys in `paths` (PEM, SubjectPublicKeyInfo), each an Ed25519 key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PublicKey,
    )

    keys = []
    for path in paths:
        data = read_limited(path, "verify key", KeyFileError, KEY_BYTES)
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            why = str(exc).split("\n")[0] or type(exc).__name__
            raise KeyFileError(f"{path}: not a PEM public key: {why}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError(f"{path}: not an Ed25519 public key ({type(key).__name__})")
        keys.append(key)
    if not keys:
        raise KeyFileError("no verify key given")
    return Verifier(tuple(keys), tuple(paths))


def generate_keys(out: Path) -> tuple[Path, Path, str]:
    """A new key pair in `out` (made 0700 if missing): the private key 0600, the public key
    0644. Refuses to overwrite either: a lost signing key cannot be re-made. Returns the two
    paths and the key id."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private, public = out / SIGNING_KEY_FILE, out / VERIFY_KEY_FILE
    for path in (private, public):
        if os.path.lexists(path):
            raise KeyFileError(f"{path}: exists already: nothing was written")
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyFileError(f"{out}: cannot make the directory: {exc.strerror}") from None
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    spki = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(private, pem, 0o600)
    _write_new(public, spki, 0o644)
    return private, public, key_id(key.public_key())


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Created with its mode from the start (never readable by others, not even briefly)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot write the key: {exc.strerror}") from None
    try:
        os.fchmod(fd, mode)  # the umask may have taken bits the public key needs
        os.write(fd, data)
    finally:
        os.close(fd)
