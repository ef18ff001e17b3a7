"""The organisation's Ed25519 signing key: it signs the daily checkpoints of every audit chain
and every evidence export, so an auditor can check them offline with the public key.

The key is a PEM file (`AIMS_SIGNING_KEY_FILE`; `aims dev` makes one in the data directory,
`aims keys new-signing-key PATH` makes one for production). Every process that signs must
read the same file; only the public half ever leaves it.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)


class SigningKeyError(ValueError):
    pass


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    def __repr__(self) -> str:  # never print the key
        return f"SigningKey({self.key_id})"

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    @property
    def key_id(self) -> str:
        """The SHA-256 of the public key (PEM), as the manifest names it."""
        return hashlib.sha256(self.public_pem).hexdigest()

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private.sign(message)).decode()


def new_signing_key(path: Path) -> SigningKey:
    """Write a fresh key to `path` (readable by its owner only); refuses to overwrite one."""
    if path.exists():
        raise SigningKeyError(f"{path} exists already; a signing key is never overwritten")
    private = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_bytes(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return SigningKey(private)


def load_signing_key(path: Path) -> SigningKey:
    try:
        private = load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise SigningKeyError(
            f"no signing key at {path} (AIMS_SIGNING_KEY_FILE): make one with `aims keys new-signing-key {path}`"
        ) from None
    except (OSError, ValueError) as error:
        raise SigningKeyError(f"{path} is not a readable PEM private key ({type(error).__name__})") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an Ed25519 key")
    return SigningKey(private)
