"""Search on the embedded default (SQLite, FTS5), in a child process with its own database.

The suite runs on PostgreSQL; this migrates a fresh SQLite file with ``manage.py migrate`` (so
the FTS5 table comes from the real migration), then builds a small scene and asks the same
selectors through ``manage.py shell -c``, with the same rules as on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = "from tests.search.sqlite_scene import main; main()"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths")
def test_the_same_rules_on_sqlite_fts5(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'search.sqlite3'}",
        "VIVID_VAR_DIR": str(tmp_path),
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT, timeout=300)
    done = subprocess.run(
        [*manage, "shell", "-c", SCRIPT],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    out = json.loads(line.removeprefix("RESULT "))
    ids = out["ids"]
    assert out["backend"] == "SQLiteSearchBackend"
    # A hidden prompt finds its post for its creator only.
    assert out["alice_obsidian"] == [ids["hidden"]]
    assert out["bob_obsidian"] == [] and out["anon_obsidian"] == []
    # A follower finds followers-only posts; nobody finds a removed one; caption beats prompt.
    assert set(out["bob_heron"]) == {ids["caption"], ids["prompt"], ids["followers"]}
    assert out["bob_heron"].index(ids["caption"]) < out["bob_heron"].index(ids["prompt"])
    # "herons" is stemmed: a visitor finds both public posts, not the followers-only one.
    assert out["anon_heron"] == [ids["caption"], ids["prompt"]]
    # Blocks (either way) and mutes.
    assert out["carol_heron"] == [] and out["dave_heron"] == []
    assert out["people_bob_ali"] == ["alice"] and out["people_carol_ali"] == []
    assert out["tags"] == [{"tag": "herons", "posts_count": 1}]
    assert out["after_unindex"] == []
