"""Captions and comments: #hashtags and @mentions, found and linked (always escaped first)."""

from __future__ import annotations

import re

from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# A tag or name starts after a non-word character (so e-mail addresses are not mentions).
HASHTAG = re.compile(r"(?<![\w&#])#(\w{1,64})")
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{3,30})\b")


def hashtags(text: str) -> list[str]:
    """Distinct tags in order of appearance, lower-cased."""
    if not text or "#" not in text:  # every feed item asks: most captions have none
        return []
    return list(dict.fromkeys(tag.lower() for tag in HASHTAG.findall(text)))


def mentions(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for match in MENTION.finditer(text or ""):
        seen.setdefault(match.group(1).lower(), None)
    return list(seen)


def linkify(text: str) -> SafeString:
    """HTML for a caption: escaped, with #tags and @names linked and line breaks kept."""
    html = escape(text or "")

    def tag_link(m: re.Match) -> str:
        url = reverse("posts:tag", args=[m.group(1).lower()])
        return f'<a class="tag" href="{url}">#{m.group(1)}</a>'

    def mention_link(m: re.Match) -> str:
        url = reverse("accounts:profile", args=[m.group(1)])
        return f'<a class="mention" href="{url}">@{m.group(1)}</a>'

    html = HASHTAG.sub(tag_link, html)
    html = MENTION.sub(mention_link, html)
    return mark_safe(html.replace("\n", "<br>"))
