"""The post page's "How it was made" and family tree, from the signed record.

One tag (``provenance_for``) gathers everything the two partials show, through the same
selectors and lineage as the API, so the page and the API never disagree on what a viewer may
read (a hidden prompt included).
"""

from __future__ import annotations

from typing import Any

from django import template

from apps.core import ledger
from apps.provenance import selectors
from apps.provenance.lineage import lineage

register = template.Library()


def _rows(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The family as an indented list: ancestors from the oldest, the post's own record, then
    descendants each under its first parent in the family (depth-first), for a tree drawn with
    nothing but nested indentation."""
    by_key = {n["key"]: n for n in nodes}
    children: dict[str, list[dict[str, Any]]] = {}
    for node in nodes:
        if node["depth"] > 0 and node["parents"]:
            parent = next((p for p in node["parents"] if p in by_key), None)
            if parent is not None:
                children.setdefault(parent, []).append(node)
    rows = []
    ancestors = [n for n in nodes if n["depth"] < 0]
    top = min((n["depth"] for n in ancestors), default=0)
    for node in ancestors:
        rows.append({**node, "indent": node["depth"] - top})
    own = next(n for n in nodes if n["relation"] == "self")
    base = -top

    def walk(node: dict[str, Any], indent: int, seen: set[str]) -> None:
        rows.append({**node, "indent": indent})
        seen.add(node["key"])
        for child in children.get(node["key"], []):
            if child["key"] not in seen and child["depth"] > node["depth"]:
                walk(child, indent + 1, seen)

    walk(own, base, set())
    return rows


@register.simple_tag(takes_context=True)
def provenance_for(context, post) -> dict[str, Any] | None:
    """What the page shows of the post's record for this viewer, or None without a record."""
    record = selectors.record_for_asset(asset=post.asset)
    if record is None:
        return None
    viewer = context.get("user") or getattr(context.get("request"), "user", None)
    shown = selectors.prompt_visible(record=record, viewer=viewer)
    return {
        "record": record,
        "prompt_shown": shown,
        "verified": ledger.record_valid(record),
        **family_rows(record=record, viewer=viewer),
    }


def family_rows(*, record, viewer) -> dict[str, Any]:
    """The family partial's data: ``family`` (indented rows), ``related``, ``truncated``."""
    family = lineage(record=record, viewer=viewer)
    return {
        "family": _rows(family["nodes"]),
        "related": len(family["nodes"]) > 1,
        "truncated": family["truncated"],
    }
