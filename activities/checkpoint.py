"""Sign a checkpoint of every audit chain: its length and head hash, once a day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from activities.definition import defn
from aims import audit
from aims.domain.messages import CHECKPOINT_ACTIVITY
from aims.persistence import chains
from aims.persistence.db import transaction
from aims.signing import load_signing_key
from aims.verify_evidence import checkpoint_statement


class CheckpointActivities:
    def __init__(self, database_url: str, signing_key_file: Path):
        self.database_url = database_url
        self.signing_key_file = signing_key_file

    @defn(name=CHECKPOINT_ACTIVITY)
    def sign_checkpoint(self, day: str) -> int:
        """Idempotent: a day that has its checkpoint keeps it. Returns how many chains it covers."""
        return sign_checkpoint(self.database_url, self.signing_key_file, day, dt.datetime.now(dt.UTC))


def sign_checkpoint(database_url: str, signing_key_file: Path, day: str, now: dt.datetime) -> int:
    key = load_signing_key(signing_key_file)
    with transaction(database_url) as session:
        existing = chains.checkpoint_of(session, day)
        if existing is not None:
            return len(existing.chains)
        heads = chains.heads(session)
        signature = key.sign(checkpoint_statement(audit.iso(now), heads))
        chains.add_checkpoint(session, day=day, at=now, chains=heads, signature=signature, key_id=key.key_id)
        return len(heads)
