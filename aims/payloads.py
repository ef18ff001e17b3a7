"""Sealed Temporal payloads: what aims puts in Temporal is encrypted and authenticated.

Every payload (workflow inputs, Updates, activity arguments and results, failure messages) is
sealed with AES-256-GCM under the first of `AIMS_PAYLOAD_KEYS` (`id:base64key,...`) and
opened with whichever key its `key-id` names, so keys rotate: add a new key first, keep the
old ones until no history needs them. Someone who reaches Temporal without a key reads
nothing in the history and cannot forge a command: a payload that is not sealed with a known
key is not opened, it is marked refused, and converting it fails. That fails the one Update
or call that carried it, never the workflow's task (an Update with a refused argument is
rejected, and nothing changes).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec, PayloadConverter

SEALED = b"binary/aims-sealed"
# What a payload becomes when it cannot be opened: no converter knows this encoding.
REFUSED = b"binary/aims-refused"
_NONCE_BYTES = 12


class PayloadKeyError(ValueError):
    pass


@dataclass(frozen=True)
class PayloadKey:
    id: str
    secret: bytes = b""

    def __repr__(self) -> str:  # never print the key
        return f"PayloadKey({self.id!r})"


def parse_keys(value: str) -> tuple[PayloadKey, ...]:
    """`id:base64key,...`: each key 32 bytes (AES-256); the first one seals."""
    keys = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        key_id, _, encoded = entry.partition(":")
        try:
            secret = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            secret = b""
        if not key_id or len(secret) != 32:
            raise PayloadKeyError(
                f"AIMS_PAYLOAD_KEYS: {key_id or '(no id)'!r} must be id:base64 of 32 random bytes "
                "(make one with `aims keys new`)"
            )
        keys.append(PayloadKey(key_id, secret))
    if not keys:
        raise PayloadKeyError("AIMS_PAYLOAD_KEYS holds no key (make one with `aims keys new`)")
    if len({key.id for key in keys}) != len(keys):
        raise PayloadKeyError("AIMS_PAYLOAD_KEYS: key ids must be unique")
    return tuple(keys)


def new_key(key_id: str | None = None) -> str:
    """A fresh `id:base64key` entry for AIMS_PAYLOAD_KEYS."""
    return f"{key_id or 'k' + os.urandom(4).hex()}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


class SealingCodec(PayloadCodec):
    def __init__(self, keys: Sequence[PayloadKey], *, accept_plaintext: bool = False):
        if not keys:
            raise PayloadKeyError("at least one payload key is needed")
        self._sealing = keys[0]
        self._ciphers = {key.id: AESGCM(key.secret) for key in keys}
        # Only while upgrading an installation whose histories predate sealing (see SECURITY.md).
        self._accept_plaintext = accept_plaintext

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.seal(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.open(payload) for payload in payloads]

    def seal(self, payload: Payload) -> Payload:
        nonce = os.urandom(_NONCE_BYTES)
        key_id = self._sealing.id.encode()
        sealed = self._ciphers[self._sealing.id].encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(metadata={"encoding": SEALED, "key-id": key_id}, data=nonce + sealed)

    def open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != SEALED:
            return payload if self._accept_plaintext else _refused("not sealed")
        key_id = payload.metadata.get("key-id", b"")
        cipher = self._ciphers.get(key_id.decode(errors="replace"))
        if cipher is None:
            return _refused("sealed with a key this process does not have")
        try:
            opened = cipher.decrypt(payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:], key_id)
        except InvalidTag:
            return _refused("seal does not verify")
        return Payload.FromString(opened)

    def try_open(self, payloads: Iterable[Payload]) -> list[Payload]:
        """For someone who may read them (the codec endpoint): opened where possible, else as they were."""
        opened = []
        for payload in payloads:
            result = self.open(payload)
            opened.append(payload if result.metadata.get("encoding") == REFUSED else result)
        return opened


def _refused(reason: str) -> Payload:
    return Payload(metadata={"encoding": REFUSED, "reason": reason.encode()})


_PAYLOAD_CONVERTER = PydanticPayloadConverter()


def _shared_payload_converter() -> PayloadConverter:
    """The one pydantic converter of the process (it holds no state but its type-adapter cache).
    The SDK builds a data converter for every workflow activation and activity context; without
    this, each built a new payload converter whose type adapters were then built again."""
    return _PAYLOAD_CONVERTER


def sealed_converter(keys: Sequence[PayloadKey], *, accept_plaintext: bool = False) -> DataConverter:
    """aims' data converter: pydantic JSON, sealed; failure messages and stack traces sealed too."""
    return DataConverter(
        payload_converter_class=_shared_payload_converter,  # type: ignore[arg-type]  # a factory will do
        payload_codec=SealingCodec(keys, accept_plaintext=accept_plaintext),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
