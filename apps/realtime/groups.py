"""Channel-layer group names. Only the server names groups; clients name streams.

Group names allow letters, digits, ``-``, ``_`` and ``.`` only, so ``user:<id>`` is spelt
``user.<id>``.
"""

import hashlib

PUBLIC = "public"
MODERATION = "moderation"


def user_group(user_id: int) -> str:
    """Every socket of one user: their home feed, notifications and generation progress."""
    return f"user.{user_id}"


def post_group(post_id: int) -> str:
    """Sockets watching one post (its reactions and comments)."""
    return f"post.{post_id}"


def token_group(token_id: int) -> str:
    """Sockets authenticated with one access token, closed when it is revoked."""
    return f"token.{token_id}"


def session_group(session_key: str) -> str:
    """Sockets of one browser session, closed when it logs out. The key itself is a secret."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:32]
