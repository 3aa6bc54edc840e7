"""Append-only, hash-chained, signed logs: provenance records, consent events, the audit log.

Every row of such a log belongs to a *chain* (one per creator or person, e.g. ``user:42``) and
stores the hash of the row before it in that chain (``prev_hash``), its own hash
(``record_hash``) and an Ed25519 signature of that hash by a key named in ``key_id``. Editing a
row breaks its hash, deleting one breaks the next row's link (and leaves a gap in ``seq``), and
forging either needs the signing key.

Why many chains and not one: a single global chain makes every writer of every worker wait for
the one head row. A chain per person only serialises that person's own writes (measured in
``tests/bench/provenance.py``). Dropping the *tail* of a chain leaves no broken link, so, as
Certificate Transparency logs sign their tree heads, a periodic signed ``Checkpoint`` (itself a
chain) records the heads that moved since the previous one; the verifier checks that every head a
checkpoint saw is still there.

What is hashed (documented in docs/provenance.md): the JSON Canonicalization Scheme (RFC 8785)
form of ``{"log", "id", "chain", "seq", "prev_hash", "key_id", "created_at", "body"}`` where
``body`` holds the subclass's ``HASHED_FIELDS`` (foreign keys by their id; datetimes as ISO 8601;
integers beyond ±2^53, such as Vivid's 64-bit ids, as decimal strings), prefixed by the domain
tag ``vivid-ledger-v1\\n`` and hashed with SHA-256. The signature is over the 32 raw digest bytes.

The rows have no update or delete path here (``save`` refuses an existing row, ``delete``
refuses), and on PostgreSQL a trigger added by the ``AppendOnly`` migration operation refuses
UPDATE and DELETE of any row.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.migrations.operations.base import Operation
from django.utils import timezone

from apps.core.ids import new_id

log = logging.getLogger(__name__)

GENESIS = "0" * 64
DOMAIN_TAG = b"vivid-ledger-v1\n"
_SAFE_INT = 2**53 - 1


class AppendOnlyError(Exception):
    """A change to a row of an append-only log was attempted."""


# --- Keys -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private: Ed25519PrivateKey

    def sign(self, record_hash: str) -> str:
        return self.private.sign(bytes.fromhex(record_hash)).hex()

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()


def key_id_of(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _keys_dir() -> Path:
    return Path(settings.LEDGER_KEYS_DIR)


def _public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _load_private(text: str) -> Ed25519PrivateKey:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:  # base64 of the 32 raw bytes
        key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(text))
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("LEDGER_SIGNING_KEY must be an Ed25519 private key")
    return key


def _create_file_once(path: Path, data: bytes) -> None:
    """Write ``path`` unless it exists, atomically: processes starting together agree on one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".new-")
    try:
        os.write(fd, data)
        os.close(fd)
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # fails if another process made it first
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)


@lru_cache(maxsize=1)
def signing_key() -> SigningKey:
    """The key new rows are signed with: ``LEDGER_SIGNING_KEY`` (PEM or base64 of the raw 32
    bytes) in production; otherwise a development key made on first use in the keys folder."""
    if settings.LEDGER_SIGNING_KEY:
        private = _load_private(settings.LEDGER_SIGNING_KEY)
    else:
        path = _keys_dir() / "ledger-ed25519.pem"
        if not path.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            _create_file_once(path, pem)
            log.warning("made a development signing key for the ledgers in %s", path)
        private = _load_private(path.read_text())
    key = SigningKey(key_id=key_id_of(private.public_key()), private=private)
    # Its public half joins the trusted keys, so records keep verifying after a rotation.
    pub_path = _keys_dir() / "trusted" / f"{key.key_id}.pub"
    if not pub_path.exists():
        _create_file_once(pub_path, _public_pem(key.public))
    return key


@lru_cache(maxsize=1)
def trusted_keys() -> dict[str, Ed25519PublicKey]:
    """Every key a row may name: the current one and each ``*.pub`` PEM in ``keys/trusted/``
    (an operator who rotates the key keeps the old public key there)."""
    keys: dict[str, Ed25519PublicKey] = {}
    current = signing_key()
    keys[current.key_id] = current.public
    for path in sorted((_keys_dir() / "trusted").glob("*.pub")):
        public = serialization.load_pem_public_key(path.read_bytes())
        if isinstance(public, Ed25519PublicKey):
            keys[key_id_of(public)] = public
    return keys


def reset_key_cache() -> None:
    signing_key.cache_clear()
    trusted_keys.cache_clear()


# --- Canonical form -------------------------------------------------------------------------


def _safe(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return str(value) if abs(value) > _SAFE_INT else value
    if isinstance(value, dict):
        return {str(k): _safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe(v) for v in value]
    return value


def canonical(obj: Any) -> bytes:
    """RFC 8785 bytes of ``obj`` (after Django's JSON encoding of dates, decimals, UUIDs)."""
    plain = json.loads(json.dumps(obj, cls=DjangoJSONEncoder))
    return rfc8785.dumps(_safe(plain))


def digest(obj: Any) -> str:
    return hashlib.sha256(DOMAIN_TAG + canonical(obj)).hexdigest()


# --- Rows -----------------------------------------------------------------------------------


class ChainedRecord(models.Model):
    """A row of an append-only, hash-chained, signed log. Subclasses name their ``LOG`` and the
    content columns that enter the hash (``HASHED_FIELDS``), and add
    ``UniqueConstraint(fields=["chain", "seq"])``. Rows are only ever made by ``append``."""

    LOG: ClassVar[str] = ""
    HASHED_FIELDS: ClassVar[tuple[str, ...]] = ()

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    chain = models.CharField(max_length=64)  # e.g. "user:42": whose history this row extends
    seq = models.PositiveBigIntegerField()  # 1, 2, 3 … within the chain
    prev_hash = models.CharField(max_length=64)  # the previous row's record_hash, or GENESIS
    record_hash = models.CharField(max_length=64)
    signature = models.CharField(max_length=128)  # Ed25519 over the digest, hex
    key_id = models.CharField(max_length=16)  # which key signed it (see trusted_keys)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding or not getattr(self, "_appending", False):
            raise AppendOnlyError(f"{type(self).__name__} rows are written by ledger.append only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError(f"{type(self).__name__} rows are never deleted")

    def hashed_body(self) -> dict[str, Any]:
        body = {}
        for name in self.HASHED_FIELDS:
            field = self._meta.get_field(name)
            body[name] = field.value_from_object(self)
        return body

    def hashed_payload(self) -> dict[str, Any]:
        created = self.created_at
        return {
            "log": self.LOG,
            "id": self.id,
            "chain": self.chain,
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "key_id": self.key_id,
            "created_at": created.isoformat() if created else None,
            "body": self.hashed_body(),
        }

    def compute_hash(self) -> str:
        return digest(self.hashed_payload())

    def signature_valid(self) -> bool:
        public = trusted_keys().get(self.key_id)
        if public is None:
            return False
        try:
            public.verify(bytes.fromhex(self.signature), bytes.fromhex(self.record_hash))
        except (InvalidSignature, ValueError):
            return False
        return True

    def verify_extra(self) -> str | None:
        """A subclass's own check of what the hash cannot see directly (e.g. that a stored text
        still matches the commitment that was hashed); a message when it fails."""
        return None


class ChainHead(models.Model):
    """The newest row of each chain: the row ``append`` locks, so writers of one chain queue
    and writers of different chains never meet. A cache of the logs, checked by the verifier
    and pinned by checkpoints; not itself evidence."""

    log = models.CharField(max_length=32)
    chain = models.CharField(max_length=64)
    seq = models.PositiveBigIntegerField(default=0)
    head_hash = models.CharField(max_length=64, default=GENESIS)
    # The seq the newest checkpoint recorded for this chain; a head ahead of it is in the next.
    checkpointed_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["log", "chain"], name="chain_head_unique"),
        ]
        indexes = [
            models.Index(fields=["log", "seq", "checkpointed_seq"], name="chain_head_pending"),
        ]


class Checkpoint(ChainedRecord):
    """A signed statement of chain heads (those that moved since the previous checkpoint), made
    periodically by beat. Itself a chain, so checkpoints cannot be dropped or edited either."""

    LOG = "checkpoint"
    HASHED_FIELDS = ("heads",)

    # {log: {chain: [seq, record_hash]}}
    heads = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="checkpoint_chain_seq"),
        ]


# --- Writing --------------------------------------------------------------------------------

_REGISTRY: dict[str, type[ChainedRecord]] = {}


def register(model: type[ChainedRecord]) -> None:
    """Make ``model``'s log known to the verifier and to checkpoints (call in AppConfig.ready)."""
    if not model.LOG:
        raise ValueError(f"{model.__name__} names no LOG")
    _REGISTRY[model.LOG] = model


def registered() -> dict[str, type[ChainedRecord]]:
    return {Checkpoint.LOG: Checkpoint, **_REGISTRY}


def _lock_head(log_name: str, chain: str) -> ChainHead:
    ChainHead.objects.bulk_create([ChainHead(log=log_name, chain=chain)], ignore_conflicts=True)
    return ChainHead.objects.select_for_update().get(log=log_name, chain=chain)


def append(model: type[ChainedRecord], *, chain: str, **fields: Any) -> ChainedRecord:
    """Add a row to the end of ``chain`` of ``model``'s log, signed with the current key.

    Must run inside ``transaction.atomic()`` (the caller's, so the row commits or rolls back
    with what it describes); it locks only this chain's head until that transaction ends.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger.append must run inside transaction.atomic()")
    if not model.LOG:
        raise ValueError(f"{model.__name__} names no LOG")
    head = _lock_head(model.LOG, chain)
    key = signing_key()
    record = model(
        chain=chain,
        seq=head.seq + 1,
        prev_hash=head.head_hash,
        key_id=key.key_id,
        created_at=timezone.now(),
        **fields,
    )
    record.record_hash = record.compute_hash()
    record.signature = key.sign(record.record_hash)
    record._appending = True
    record.save(force_insert=True)
    ChainHead.objects.filter(pk=head.pk).update(seq=record.seq, head_hash=record.record_hash)
    return record


CHECKPOINT_CHAIN = "checkpoints"


def checkpoint_sign() -> Checkpoint | None:
    """Sign the heads that moved since the previous checkpoint; None when nothing moved."""
    with transaction.atomic():
        moved = list(
            ChainHead.objects.exclude(log=Checkpoint.LOG, chain=CHECKPOINT_CHAIN)
            .filter(seq__gt=models.F("checkpointed_seq"))
            .order_by("log", "chain")
            .values_list("id", "log", "chain", "seq", "head_hash")[:100_000]
        )
        if not moved:
            return None
        heads: dict[str, dict[str, list[Any]]] = {}
        for _, log_name, chain, seq, head_hash in moved:
            heads.setdefault(log_name, {})[chain] = [seq, head_hash]
        checkpoint = append(Checkpoint, chain=CHECKPOINT_CHAIN, heads=heads)
        for pk, _, _, seq, _ in moved:
            ChainHead.objects.filter(pk=pk, checkpointed_seq__lt=seq).update(checkpointed_seq=seq)
    return checkpoint


# --- Verifying ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    log: str
    chain: str
    seq: int | None
    record_id: int | None
    kind: str  # hash_mismatch, bad_signature, unknown_key, broken_link, missing_row, …
    message: str

    def __str__(self) -> str:
        where = f"{self.log} {self.chain}" + (f" #{self.seq}" if self.seq is not None else "")
        row = f" (row {self.record_id})" if self.record_id is not None else ""
        return f"{where}{row}: {self.kind}: {self.message}"


def record_problem(record: ChainedRecord) -> tuple[str, str] | None:
    """What is wrong with one row on its own (hash, signature, subclass check), or None."""
    if record.compute_hash() != record.record_hash:
        return "hash_mismatch", "the row's content no longer matches its hash (edited)"
    if record.key_id not in trusted_keys():
        return "unknown_key", f"signed by key {record.key_id}, which is not trusted"
    if not record.signature_valid():
        return "bad_signature", "the signature does not verify"
    extra = record.verify_extra()
    if extra:
        return "hash_mismatch", extra
    return None


def record_valid(record: ChainedRecord) -> bool:
    return record_problem(record) is None


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="row", disable=not enabled, file=sys.stderr)


def verify_log(model: type[ChainedRecord], *, progress: bool = False) -> list[Problem]:
    """The first problem of each chain of ``model``'s log (a broken chain is not read further),
    and chains whose stored head is ahead of their last row (a dropped tail)."""
    problems: list[Problem] = []
    heads = {
        chain: (seq, head_hash)
        for chain, seq, head_hash in ChainHead.objects.filter(log=model.LOG).values_list(
            "chain", "seq", "head_hash"
        )
    }
    seen: dict[str, tuple[int, str]] = {}
    broken: set[str] = set()
    rows = model.objects.order_by("chain", "seq")
    with _progress(rows.count(), model.LOG, progress) as bar:
        current, expected, prev = None, 1, GENESIS
        for record in rows.iterator(chunk_size=2000):
            bar.update(1)
            if record.chain != current:
                current, expected, prev = record.chain, 1, GENESIS
            if record.chain in broken:
                continue

            def fail(kind: str, message: str, record: ChainedRecord = record) -> None:
                problems.append(
                    Problem(model.LOG, record.chain, record.seq, record.id, kind, message)
                )
                broken.add(record.chain)

            if record.seq != expected:
                last_missing = record.seq - 1
                missing = f"#{expected}"
                if last_missing > expected:
                    missing += f" to #{last_missing}"
                fail("missing_row", f"row {missing} is missing before this one")
                continue
            if record.prev_hash != prev:
                fail("broken_link", "prev_hash does not match the previous row's hash")
                continue
            wrong = record_problem(record)
            if wrong:
                fail(*wrong)
                continue
            seen[record.chain] = (record.seq, record.record_hash)
            expected, prev = record.seq + 1, record.record_hash
    for chain, (seq, head_hash) in heads.items():
        if chain in broken:
            continue
        last = seen.get(chain, (0, GENESIS))
        if seq > last[0]:
            problems.append(
                Problem(
                    model.LOG,
                    chain,
                    last[0] + 1,
                    None,
                    "missing_row",
                    f"the chain ends at #{last[0]} but its head says #{seq}: rows were dropped",
                )
            )
        elif last != (seq, head_hash):
            problems.append(
                Problem(
                    model.LOG,
                    chain,
                    last[0],
                    None,
                    "head_mismatch",
                    "the chain's last row does not match its recorded head",
                )
            )
    return problems


def _checkpoint_problems(logs: dict[str, type[ChainedRecord]]) -> list[Problem]:
    """Every head a checkpoint signed must still be in its chain, with the same hash."""
    pinned: dict[tuple[str, str], tuple[int, str, int]] = {}
    for checkpoint in Checkpoint.objects.order_by("chain", "seq").iterator(chunk_size=500):
        for log_name, chains in checkpoint.heads.items():
            for chain, (seq, head_hash) in chains.items():
                pinned[(log_name, chain)] = (seq, head_hash, checkpoint.seq)
    problems = []
    by_log: dict[str, list[tuple[str, int, str, int]]] = {}
    for (log_name, chain), (seq, head_hash, cp) in pinned.items():
        by_log.setdefault(log_name, []).append((chain, seq, head_hash, cp))
    for log_name, entries in by_log.items():
        model = logs.get(log_name)
        if model is None:
            continue
        for chain, seq, head_hash, cp in entries:
            found = (
                model.objects.filter(chain=chain, seq=seq)
                .values_list("record_hash", flat=True)
                .first()
            )
            if found is None:
                problems.append(
                    Problem(
                        log_name,
                        chain,
                        seq,
                        None,
                        "missing_row",
                        f"checkpoint #{cp} signed this row, which is gone",
                    )
                )
            elif found != head_hash:
                problems.append(
                    Problem(
                        log_name,
                        chain,
                        seq,
                        None,
                        "checkpoint_mismatch",
                        f"checkpoint #{cp} signed a different hash for this row",
                    )
                )
    return problems


def verify_all(*, progress: bool = False, logs: Iterable[str] | None = None) -> list[Problem]:
    """Walk every registered log and the checkpoints; an empty list means all is intact."""
    models_by_log = registered()
    chosen = {name: m for name, m in models_by_log.items() if logs is None or name in logs}
    problems: list[Problem] = []
    for model in chosen.values():
        problems.extend(verify_log(model, progress=progress))
    problems.extend(_checkpoint_problems(chosen))
    return problems


# --- Migrations -----------------------------------------------------------------------------

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION vivid_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def trigger_name(table: str) -> str:
    return f"{table}_append_only"


class AppendOnly(Operation):
    """Migration operation: on PostgreSQL, a trigger refusing UPDATE and DELETE of any row of
    ``model_name``'s table (the trigger is named ``<table>_append_only``). Other databases get
    nothing: the code has no update or delete path, which is all SQLite can be held to."""

    reversible = True

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def _table(self, app_label: str, state: Any) -> str:
        return state.apps.get_model(app_label, self.model_name)._meta.db_table

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        table = self._table(app_label, to_state)
        quote = schema_editor.quote_name
        schema_editor.execute(_PG_FUNCTION, params=None)
        schema_editor.execute(
            f"CREATE TRIGGER {quote(trigger_name(table))} BEFORE UPDATE OR DELETE ON "
            f"{quote(table)} FOR EACH ROW EXECUTE FUNCTION vivid_append_only()"
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        table = self._table(app_label, from_state)
        quote = schema_editor.quote_name
        name = quote(trigger_name(table))
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {quote(table)}")

    def describe(self) -> str:
        return f"Refuse UPDATE and DELETE on {self.model_name} (PostgreSQL trigger)"

    def deconstruct(self):
        return self.__class__.__name__, [self.model_name], {}
