"""Explore, More like this and collections on the embedded default (SQLite), in a child
process with its own freshly migrated database (as tests/search/test_sqlite.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_same_rules_on_sqlite(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'discovery.sqlite3'}",
        "VIVID_VAR_DIR": str(tmp_path),
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT, timeout=300)
    done = subprocess.run(
        [*manage, "shell", "-c", "from tests.discovery.sqlite_scene import main; main()"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    ids = out["ids"]
    # By #tag (on SQLite prompt words are scored only among tagged and trending candidates, see
    # apps.discovery.selectors); never the hidden prompt's post by its words, nor the removed one.
    assert ids["tagged"] in out["similar"]
    assert ids["hidden"] not in out["similar"]
    assert out["creators"] == ["bob"]
    assert out["tags"] == [{"tag": "kites", "posts_count": 2}]
    assert ids["tagged"] in out["trending"]
    assert out["collection"] == [ids["tagged"], ids["source"]]
    assert out["count"] == 2
