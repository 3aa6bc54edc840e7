"""Alt text: the text alternative of a post's picture or clip.

Three rules, kept here so that every page and the API say the same thing:

- The creator writes it (``Post.alt_text``, at most ``ALT_TEXT_MAX`` characters, no control
  characters). ``alt_text_clean`` holds every writer to that.
- When they leave it empty, a sentence built from the generation's prompt is *offered to them*
  (``alt_suggestion``), never shown to anyone else: it only becomes public if they adopt it.
- Viewers of a post without alt text get a generic alternative (``alt_for_viewers``), never the
  prompt, hidden or not. Whether a prompt may be shown depends on more than the post's own
  ``hide_prompt`` (an edit repeats its source's prompt, and hiding that text on one post hides it
  on every record that repeats it, see ``apps.provenance.selectors.prompt_hidden_ids``): an alt
  that never reads the prompt cannot leak one.
"""

from __future__ import annotations

import unicodedata

from django.utils.translation import gettext as _

from apps.core.exceptions import ApplicationError

ALT_TEXT_MAX = 1500
# Line breaks and tabs are what a textarea sends; every other control character is refused.
_ALLOWED_CONTROLS = {"\n", "\t"}
SUGGESTION_PROMPT_MAX = 300
# The same rule as a pattern, for the API's input serializers (and so for its published schema):
# no C0 or C1 control character but a tab or a line break (\r\n becomes \n when stored).
ALT_TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"


def _invalid(message: str) -> ApplicationError:
    return ApplicationError("invalid", "Some fields are not valid.", fields={"alt_text": [message]})


def alt_text_clean(value: str | None) -> str:
    """The alt text as stored: line endings made ``\\n``, surrounding space trimmed.

    Raises ``ApplicationError("invalid", fields={"alt_text": ...})`` (400) when longer than
    ``ALT_TEXT_MAX`` characters or holding a control character (other than a line break or tab)
    or a lone surrogate: refused, never cut short.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid("Not a valid string.")
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > ALT_TEXT_MAX:
        raise _invalid(f"Ensure this field has no more than {ALT_TEXT_MAX} characters.")
    for ch in text:
        if ch in _ALLOWED_CONTROLS:
            continue
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise _invalid("Control characters are not allowed.")
    return text


def alt_suggestion(*, asset) -> str:
    """A description offered to the asset's owner when they leave alt text empty, from the prompt
    of the generation that made it (e.g. "AI-generated image: a lighthouse at dawn, watercolor").

    Only ever given to the owner (callers check): the prompt may be one they hide from others.
    Empty when the asset has no prompt (an upload, an edit without one).
    """
    job = getattr(asset, "job", None)
    prompt = " ".join((getattr(job, "prompt", "") or "").split())
    if not prompt:
        return ""
    if len(prompt) > SUGGESTION_PROMPT_MAX:
        prompt = prompt[: SUGGESTION_PROMPT_MAX - 1].rstrip(" ,;") + "…"
    if asset.kind == "video":
        return _("AI-generated clip: %(prompt)s") % {"prompt": prompt}
    return _("AI-generated image: %(prompt)s") % {"prompt": prompt}


def alt_for_viewers(post) -> str:
    """What every page puts in ``alt`` (or a video's ``aria-label``) for ``post``: the creator's
    alt text, else "AI-generated image by @name" (never the prompt, see the module's note)."""
    if post.alt_text:
        return post.alt_text
    names = {"username": post.author.username}
    if post.asset.kind == "video":
        return _("AI-generated clip by @%(username)s") % names
    return _("AI-generated image by @%(username)s") % names


def alt_suggestion_for(*, asset_id: int, owner) -> str:
    """``alt_suggestion`` for one of ``owner``'s own assets in their Library; anyone else's asset
    (or a removed one) answers like a missing one (404)."""
    from apps.media.models import Asset

    asset = (
        Asset.objects.filter(id=asset_id, owner_id=owner.pk, removed_at__isnull=True)
        .select_related("job")
        .first()
    )
    if asset is None:
        raise ApplicationError("not_found", "Not found.")
    return alt_suggestion(asset=asset)


# --- a hidden prompt stays hidden, even quoted in alt text ----------------------------------
#
# The suggestion quotes the prompt. A creator who adopts it and hides the prompt (now, later, or
# on another post repeating the same prompt: ``prompt_hidden_ids``'s rule) would show the prompt
# to everyone through the alt text, so such an alt text is refused, or cleared when hiding.

_SHORT_PROMPT = 12  # characters: a shorter prompt counts as quoted only when it is all there is
_QUOTE_RUN = 40  # characters of a longer prompt that, found in the alt text, count as quoting it


def _norm(text: str) -> str:
    return " ".join((text or "").split()).casefold()


def quotes_prompt(alt_text: str, prompt: str) -> bool:
    """Whether ``alt_text`` repeats ``prompt`` (case and spacing aside): all of it, or any run of
    ``_QUOTE_RUN`` characters of it from a word's start (the suggestion cuts a long prompt short,
    and a copy may be edited at either end)."""
    alt, said = _norm(alt_text), _norm(prompt)
    if not alt or not said:
        return False
    if len(said) < _SHORT_PROMPT:
        return alt == said or alt.endswith(": " + said)
    if said in alt:
        return True
    starts = [0] + [i + 1 for i, ch in enumerate(said) if ch == " "]
    return any(said[i : i + _QUOTE_RUN] in alt for i in starts if len(said) - i >= _QUOTE_RUN)


def prompt_of(asset) -> str:
    job = getattr(asset, "job", None)
    return (getattr(job, "prompt", "") or "") if job is not None else ""


def prompt_hidden(*, author_id: int, prompt: str, hide_prompt: bool) -> bool:
    """Whether ``prompt`` is hidden from others: on this post, or on any post of its author that
    repeats it (edits carry their source's prompt)."""
    if hide_prompt:
        return True
    if not prompt:
        return False
    from apps.posts.models import Post

    return Post.objects.filter(
        author_id=author_id, hide_prompt=True, asset__job__prompt=prompt
    ).exists()


def alt_text_check_hidden(*, alt_text: str, prompt: str, author_id: int, hide_prompt: bool) -> None:
    """Refuse (400) alt text that repeats a prompt its author hides."""
    if quotes_prompt(alt_text, prompt) and prompt_hidden(
        author_id=author_id, prompt=prompt, hide_prompt=hide_prompt
    ):
        raise _invalid(
            "This repeats your hidden prompt, and alt text is shown to everyone: describe the"
            " picture in other words, or leave it empty."
        )


def alt_texts_clear_quoting(*, author_id: int, prompt: str) -> list[int]:
    """When a prompt becomes hidden: clear the author's alt texts that repeat it (their posts
    then show the generic alternative). Returns the ids of the posts changed."""
    from apps.posts.models import Post

    if not prompt:
        return []
    quoting = [
        post_id
        for post_id, alt in Post.objects.filter(author_id=author_id, asset__job__prompt=prompt)
        .exclude(alt_text="")
        .values_list("id", "alt_text")
        if quotes_prompt(alt, prompt)
    ]
    if quoting:
        Post.objects.filter(id__in=quoting).update(alt_text="")
    return quoting
