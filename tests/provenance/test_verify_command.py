"""``manage.py provenance_verify``, run as an operator would: a real process on the database."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.db import DatabaseError, connection

from apps.core import ledger
from apps.provenance.models import ProvenanceRecord
from apps.provenance.selectors import record_for_asset
from tests.processes import ROOT, process_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _own_keys(settings, tmp_path):
    settings.LEDGER_KEYS_DIR = tmp_path / "keys"
    settings.LEDGER_SIGNING_KEY = ""
    ledger.reset_key_cache()
    yield
    ledger.reset_key_cache()


def verify(settings) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "provenance_verify"],
        cwd=ROOT,
        env=process_env(LEDGER_KEYS_DIR=str(settings.LEDGER_KEYS_DIR)),
        capture_output=True,
        text=True,
        timeout=120,
    )


def behind_the_codes_back(sql: str, params=()) -> None:
    """What someone with database access could do: drop the append-only trigger, write, and
    put the trigger back so nothing looks amiss."""
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's")
    table = ProvenanceRecord._meta.db_table
    trigger = ledger.trigger_name(table)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TRIGGER "{trigger}" ON "{table}"')
        cursor.execute(sql, params)
        cursor.execute(
            f'CREATE TRIGGER "{trigger}" BEFORE UPDATE OR DELETE ON "{table}" '
            "FOR EACH ROW EXECUTE FUNCTION vivid_append_only()"
        )


@pytest.fixture
def family(alice, bob, made):
    """Three records on alice's chain, two on bob's."""
    return {
        "alice": [record_for_asset(asset=made(alice, f"alice picture {i}")) for i in range(3)],
        "bob": [record_for_asset(asset=made(bob, f"bob picture {i}")) for i in range(2)],
    }


def test_an_intact_database_verifies(settings, family):
    result = verify(settings)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All chains intact" in result.stdout
    assert "provenance" in result.stderr  # the progress bar names the log it walks


def test_an_edited_prompt_is_named(settings, family, alice):
    target = family["alice"][1]
    behind_the_codes_back(
        f"UPDATE {ProvenanceRecord._meta.db_table} SET prompt = %s WHERE id = %s",
        ["something else entirely", target.id],
    )
    result = verify(settings)
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if "provenance" in line]
    assert len(lines) == 1, result.stdout  # only alice's chain is broken, at the edited row
    assert f"user:{alice.id} #2 (row {target.id})" in lines[0]
    assert "prompt no longer matches" in lines[0]


def test_an_edited_seed_is_named(settings, family, bob):
    target = family["bob"][0]
    behind_the_codes_back(
        f"UPDATE {ProvenanceRecord._meta.db_table} SET seed = 12345 WHERE id = %s", [target.id]
    )
    result = verify(settings)
    assert result.returncode == 1
    assert f"user:{bob.id} #1 (row {target.id}): hash_mismatch" in result.stdout


def test_a_row_deleted_in_the_middle_is_named(settings, family, alice):
    target = family["alice"][1]
    behind_the_codes_back(
        f"DELETE FROM {ProvenanceRecord._meta.db_table} WHERE id = %s", [target.id]
    )
    result = verify(settings)
    assert result.returncode == 1
    following = family["alice"][2]
    assert f"user:{alice.id} #3 (row {following.id}): missing_row" in result.stdout
    assert "#2 is missing" in result.stdout


def test_the_database_refuses_to_change_or_delete_a_record(family):
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's")
    table = ProvenanceRecord._meta.db_table
    target = family["alice"][0]
    for sql in (
        f"UPDATE {table} SET prompt = 'x' WHERE id = %s",
        f"DELETE FROM {table} WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), connection.cursor() as cursor:
            cursor.execute(sql, [target.id])
    assert ProvenanceRecord.objects.get(id=target.id).prompt == "alice picture 0"
