"""The scratch database a benchmark runs in, beside the one ``DATABASE_URL`` names."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def bench_database(base: str, suffix: str) -> str:
    """The URL of ``<base name>_bench_<suffix>`` on ``base``'s server, made if it is missing."""
    import psycopg

    parts = urlsplit(base)
    name = f"{parts.path.lstrip('/') or 'vivid'}_bench_{suffix}"
    url = urlunsplit(parts._replace(path="/" + name))
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return url
