"""The signed, hash-chained logs: what the verifier catches, and what the database refuses."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import DatabaseError, connection, transaction

from apps.core import ledger
from apps.core.ledger import AppendOnlyError, ChainHead, Checkpoint


@pytest.fixture(autouse=True)
def _own_keys(settings, tmp_path):
    settings.LEDGER_KEYS_DIR = tmp_path / "keys"
    settings.LEDGER_SIGNING_KEY = ""
    ledger.reset_key_cache()
    yield
    ledger.reset_key_cache()


def write(chain: str, n: int) -> list[Checkpoint]:
    rows = []
    for i in range(n):
        with transaction.atomic():
            rows.append(ledger.append(Checkpoint, chain=chain, heads={"note": {"i": [i, "x"]}}))
    return rows


def raw(sql: str, params=()) -> None:
    """Change the table behind the code's back, as someone with database access could."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            name = ledger.trigger_name(Checkpoint._meta.db_table)
            cursor.execute(f'ALTER TABLE core_checkpoint DISABLE TRIGGER "{name}"')
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute(f'ALTER TABLE core_checkpoint ENABLE TRIGGER "{name}"')


def kinds(problems) -> list[tuple[str, str, int | None]]:
    return [(p.chain, p.kind, p.seq) for p in problems]


@pytest.mark.django_db
def test_rows_chain_and_verify():
    a = write("user:1", 3)
    write("user:2", 2)
    assert [r.seq for r in a] == [1, 2, 3]
    assert a[0].prev_hash == ledger.GENESIS
    assert a[1].prev_hash == a[0].record_hash and a[2].prev_hash == a[1].record_hash
    assert all(ledger.record_valid(r) for r in a)
    assert ledger.verify_all() == []


@pytest.mark.django_db
def test_an_edited_row_is_named():
    rows = write("user:1", 4)
    raw("UPDATE core_checkpoint SET heads = %s WHERE id = %s", ['{"note": {}}', rows[1].id])
    problems = ledger.verify_all()
    assert kinds(problems) == [("user:1", "hash_mismatch", 2)]
    assert problems[0].record_id == rows[1].id


@pytest.mark.django_db
def test_a_row_deleted_in_the_middle_is_named():
    rows = write("user:1", 5)
    write("user:2", 2)
    raw("DELETE FROM core_checkpoint WHERE id = %s", [rows[2].id])
    problems = ledger.verify_all()
    assert kinds(problems) == [("user:1", "missing_row", 4)]
    assert "#3" in problems[0].message


@pytest.mark.django_db
def test_a_dropped_tail_is_caught_by_the_head_and_by_a_checkpoint():
    rows = write("user:1", 3)
    ledger.checkpoint_sign()  # pins user:1 at #3
    raw("DELETE FROM core_checkpoint WHERE id = %s", [rows[2].id])
    # Hiding it from the head too is not enough: the signed checkpoint remembers #3.
    ChainHead.objects.filter(log="checkpoint", chain="user:1").update(
        seq=2, head_hash=rows[1].record_hash
    )
    problems = ledger.verify_all()
    assert ("user:1", "missing_row", 3) in kinds(problems)
    assert any("checkpoint" in p.message for p in problems)


@pytest.mark.django_db
def test_a_forged_signature_and_an_unknown_key_are_named():
    rows = write("user:1", 2)
    intruder = Ed25519PrivateKey.generate()
    forged = intruder.sign(bytes.fromhex(rows[1].record_hash)).hex()
    raw("UPDATE core_checkpoint SET signature = %s WHERE id = %s", [forged, rows[1].id])
    assert kinds(ledger.verify_all()) == [("user:1", "bad_signature", 2)]


@pytest.mark.django_db
def test_rows_signed_by_a_rotated_key_still_verify(settings, tmp_path):
    old = write("user:1", 2)
    # The operator rotates: a new key from the environment; the old public key stays trusted
    # because it was written to keys/trusted/ when it was first used.
    new = Ed25519PrivateKey.generate()
    raw_new = new.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    settings.LEDGER_SIGNING_KEY = base64.b64encode(raw_new).decode()
    ledger.reset_key_cache()
    newer = write("user:1", 1)
    assert newer[0].key_id != old[0].key_id
    assert ledger.verify_all() == []
    # Without the old public key, the old rows are flagged as signed by an unknown key.
    for path in (tmp_path / "keys" / "trusted").glob(f"{old[0].key_id}.pub"):
        path.unlink()
    ledger.reset_key_cache()
    assert kinds(ledger.verify_all())[0] == ("user:1", "unknown_key", 1)


@pytest.mark.django_db
def test_the_code_has_no_update_or_delete_path():
    row = write("user:1", 1)[0]
    row.heads = {}
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()
    with pytest.raises(AppendOnlyError):
        Checkpoint.objects.create(chain="user:1", seq=2, heads={})


@pytest.mark.django_db
def test_postgresql_refuses_update_and_delete():
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger is a PostgreSQL feature")
    row = write("user:1", 1)[0]
    for statement in (
        ("UPDATE core_checkpoint SET heads = '{}' WHERE id = %s", [row.id]),
        ("DELETE FROM core_checkpoint WHERE id = %s", [row.id]),
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(*statement)
    assert Checkpoint.objects.filter(id=row.id).exists()


@pytest.mark.django_db(transaction=True)
def test_append_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError):
        ledger.append(Checkpoint, chain="user:1", heads={})


@pytest.mark.django_db
def test_checkpoints_record_only_the_heads_that_moved():
    write("user:1", 2)
    first = ledger.checkpoint_sign()
    head = ChainHead.objects.get(chain="user:1")
    assert first.heads == {"checkpoint": {"user:1": [2, head.head_hash]}}
    assert ledger.checkpoint_sign() is None  # nothing moved since
    write("user:2", 1)
    second = ledger.checkpoint_sign()
    assert set(second.heads["checkpoint"]) == {"user:2"}
    assert second.prev_hash == first.record_hash


def test_canonical_form_is_rfc8785_with_big_integers_as_strings():
    assert ledger.canonical({"b": 1, "a": [2**60, 1.5, "é"]}) == (
        '{"a":["1152921504606846976",1.5,"é"],"b":1}'.encode()
    )
