"""Verify an aims evidence bundle offline: `python verify_evidence.py BUNDLE.zip --public-key KEY.pem`.

This one file is all an auditor needs (Python 3.11+ and the `cryptography` package); aims uses
the same code (`aims verify`, and its own audit chains hash with the functions below), so what
the auditor checks is exactly what aims wrote.

A bundle is a zip of:
- `events.jsonl`: one audit event a line, canonical JSON, chains in order;
- `checkpoints.json`: the daily statements of every chain's length and head hash, each signed
  with the organisation's Ed25519 key;
- `manifest.json`: what was exported (chains with their length and head hash, the SHA-256 of
  every file, the period, by whom and when); `manifest.sig`: its Ed25519 signature (base64).

Exit 0 and "verified: N events in M chains", or 1 and the first bad file and line.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import hashlib
import json
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

GENESIS = "0" * 64
FORMAT = "aims-evidence/1"
EVENTS, CHECKPOINTS, MANIFEST, SIGNATURE = "events.jsonl", "checkpoints.json", "manifest.json", "manifest.sig"


# ------------------------------------------------------------ the hashing aims itself uses


def iso(instant: dt.datetime) -> str:
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical(content: Any) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(
    *, use_case_id: str, seq: int, type: str, actor: str, at: dt.datetime | str, version: int, data: Any,
    prev_hash: str,
) -> str:  # fmt: skip
    """The hash of one event. `use_case_id` is the chain id (a use case id or `system`): the
    key keeps its first name so that every chain written since the beginning still verifies."""
    content = {
        "use_case_id": use_case_id,
        "seq": seq,
        "type": type,
        "actor": actor,
        "at": at if isinstance(at, str) else iso(at),
        "version": version,
        "data": data,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical(content)).hexdigest()


def link_fault(event: dict[str, Any], position: int, previous_hash: str) -> str | None:
    """Why `event` does not belong at `position` of its chain, after `previous_hash`; None if it does."""
    if event["seq"] != position:
        return f"event {position} is missing or out of order (found seq {event['seq']})"
    if event["prev_hash"] != previous_hash:
        return f"event {position} does not link to event {position - 1}"
    recomputed = event_hash(
        use_case_id=event["chain"], seq=event["seq"], type=event["type"], actor=event["actor"], at=event["at"],
        version=event["version"], data=event["data"], prev_hash=event["prev_hash"],
    )  # fmt: skip
    if recomputed != event["hash"]:
        return f"event {position} was changed after it was written"
    return None


def checkpoint_statement(at: str, chains: list[dict[str, Any]]) -> bytes:
    """What a checkpoint's signature covers: when, and every chain's length and head hash."""
    return canonical({"type": "aims-checkpoint", "at": at, "chains": chains})


def checkpoint_fault(checkpoint: dict[str, Any], hashes: dict[str, list[str]], key: Ed25519PublicKey | None) -> str | None:
    """Why `checkpoint` (signed when `key` is given) disagrees with the chains' event hashes now."""
    if key is not None:
        try:
            statement = checkpoint_statement(checkpoint["at"], checkpoint["chains"])
            key.verify(base64.b64decode(checkpoint["signature"], validate=True), statement)
        except (InvalidSignature, binascii.Error, ValueError):
            return f"the checkpoint of {checkpoint['at']}: its signature does not verify"
    for head in checkpoint["chains"]:
        chain = hashes.get(head["id"])
        if chain is None:
            continue  # a chain outside this scope
        if len(chain) < head["length"] or (head["length"] and chain[head["length"] - 1] != head["head_hash"]):
            return (
                f"the checkpoint of {checkpoint['at']} saw chain {head['id']} at {head['length']} event(s) with "
                "another head: events were removed or rewritten since"
            )
    return None


# ------------------------------------------------------------ verifying a bundle


class BundleError(Exception):
    """The first thing wrong with a bundle, located: `file`, and `line` where there is one."""

    def __init__(self, file: str, message: str, line: int | None = None):
        super().__init__(f"{file}{f' line {line}' if line else ''}: {message}")
        self.file, self.line = file, line


@dataclass(frozen=True)
class Verified:
    events: int
    chains: int
    checkpoints: int


def verify_bundle(bundle: Path, public_key_pem: bytes) -> Verified:
    key = _public_key(public_key_pem)
    try:
        archive = zipfile.ZipFile(bundle)
    except (OSError, zipfile.BadZipFile) as error:
        raise BundleError(str(bundle), f"not a readable zip ({error})") from None
    with archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    for name in (MANIFEST, SIGNATURE, EVENTS, CHECKPOINTS):
        if name not in files:
            raise BundleError(name, "missing from the bundle")
    try:
        key.verify(base64.b64decode(files[SIGNATURE], validate=True), files[MANIFEST])
    except (InvalidSignature, binascii.Error, ValueError):
        raise BundleError(SIGNATURE, "the signature does not verify: manifest.json was changed, or signed by another key")
    manifest = _json(MANIFEST, files[MANIFEST])
    if manifest.get("format") != FORMAT:
        raise BundleError(MANIFEST, f"format {manifest.get('format')!r} is not {FORMAT}")
    chains = _events(files[EVENTS])
    _heads(manifest, chains)
    checkpoints = _checkpoints(files[CHECKPOINTS], key, chains)
    for name, expected in manifest.get("files", {}).items():
        if name not in files or hashlib.sha256(files[name]).hexdigest() != expected:
            raise BundleError(name, "its SHA-256 differs from the manifest's")
    unlisted = set(files) - set(manifest.get("files", {})) - {MANIFEST, SIGNATURE}
    if unlisted:
        raise BundleError(sorted(unlisted)[0], "not listed in the manifest")
    return Verified(sum(len(events) for events in chains.values()), len(chains), checkpoints)


def _public_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = load_pem_public_key(pem)
    except ValueError as error:
        raise BundleError("public key", f"not a PEM public key ({error})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError("public key", "not an Ed25519 key")
    return key


def _json(name: str, raw: bytes, line: int | None = None) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(name, f"not JSON ({error})", line) from None


def _events(raw: bytes) -> dict[str, list[dict[str, Any]]]:
    """Every line hashes to its hash, links to the one before it in its chain, at its position."""
    chains: dict[str, list[dict[str, Any]]] = {}
    for number, text in enumerate(raw.splitlines(), start=1):
        event = _json(EVENTS, text, number)
        try:
            events = chains.setdefault(event["chain"], [])
            fault = link_fault(event, len(events) + 1, events[-1]["hash"] if events else GENESIS)
        except (KeyError, TypeError) as error:
            raise BundleError(EVENTS, f"not an audit event (no {error})", number) from None
        if fault:
            raise BundleError(EVENTS, f"chain {event['chain']}: {fault}", number)
        events.append(event)
    return chains


def _heads(manifest: dict[str, Any], chains: dict[str, list[dict[str, Any]]]) -> None:
    """The manifest names every chain with its length and head: a cut tail or a dropped chain shows."""
    listed = {entry["id"]: entry for entry in manifest.get("chains", [])}
    for chain_id, entry in listed.items():
        events = chains.get(chain_id, [])
        head = events[-1]["hash"] if events else GENESIS
        if len(events) != entry["length"] or head != entry["head_hash"]:
            raise BundleError(
                EVENTS, f"chain {chain_id} holds {len(events)} event(s) ending in {head[:12]}…, the manifest says "
                f"{entry['length']} ending in {entry['head_hash'][:12]}… (truncated or rewritten)",
            )  # fmt: skip
    extra = set(chains) - set(listed)
    if extra:
        raise BundleError(EVENTS, f"chain {sorted(extra)[0]} is not listed in the manifest")


def _checkpoints(raw: bytes, key: Ed25519PublicKey, chains: dict[str, list[dict[str, Any]]]) -> int:
    """Each signed checkpoint agrees with the events: what was there on that day is still there."""
    checkpoints = _json(CHECKPOINTS, raw)
    hashes = {chain: [event["hash"] for event in events] for chain, events in chains.items()}
    for number, checkpoint in enumerate(checkpoints, start=1):
        try:
            fault = checkpoint_fault(checkpoint, hashes, key)
        except (KeyError, TypeError) as error:
            raise BundleError(CHECKPOINTS, f"checkpoint {number} is not a checkpoint (no {error})") from None
        if fault:
            raise BundleError(CHECKPOINTS, f"checkpoint {number}: {fault}")
    return len(checkpoints)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="verify_evidence", description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--public-key", type=Path, required=True, help="the organisation's PEM public key")
    args = parser.parse_args(argv)
    try:
        result = verify_bundle(args.bundle, args.public_key.read_bytes())
    except BundleError as error:
        print(f"NOT verified: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"NOT verified: cannot read {error.filename}", file=sys.stderr)
        return 1
    plural = "" if result.checkpoints == 1 else "s"
    print(f"verified: {result.events} events in {result.chains} chains ({result.checkpoints} signed checkpoint{plural})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
