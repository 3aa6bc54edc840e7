"""Template helpers for posts: linked captions, and how a sensitive post shows to the viewer."""

from urllib.parse import urlencode

from django import template
from django.urls import reverse

from apps.posts.text import linkify

register = template.Library()


@register.filter
def caption_html(text: str):
    """Escaped caption with #tags and @mentions linked."""
    return linkify(text)


@register.filter
def post_alt(post) -> str:
    """The text alternative of a post's picture or clip for every viewer (``alt``, or a video's
    ``aria-label``): the creator's alt text, else a generic one, never the prompt."""
    from apps.posts.alt import alt_for_viewers

    return alt_for_viewers(post)


@register.simple_tag(takes_context=True)
def sensitive_mode(context, post) -> str:
    """``show``, ``blur`` or ``hide`` for this viewer (their setting; blur for the signed-out).

    Authors always see their own posts plainly.
    """
    if not post.sensitive:
        return "show"
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return "blur"
    if user.pk == post.author_id:
        return "show"
    return user.sensitive_media


@register.simple_tag(takes_context=True)
def remix_url(context, post) -> str:
    """Create, prefilled with the post's prompt and parameters (unless hidden) and ``remix_of``."""
    user = context.get("user")
    query: dict = {"remix_of": post.id}
    job = getattr(post.asset, "job", None)
    own = bool(user and user.pk == post.author_id)
    # Hidden also when the author hides the same prompt on another post (an edit repeats it).
    if job is not None and (own or not _prompt_hidden(post, job)):
        params = job.params or {}
        query.update({"prompt": job.prompt, "kind": job.kind, "seed": job.seed})
        if job.negative_prompt:
            query["negative_prompt"] = job.negative_prompt
        for name in ("aspect_ratio", "quality", "count"):
            if params.get(name):
                query[name] = params[name]
        if params.get("duration_s"):
            query["duration_s"] = min(20, max(1, round(params["duration_s"])))
    return f"{reverse('generation:create')}?{urlencode(query)}"


def _prompt_hidden(post, job) -> bool:
    from apps.posts.alt import prompt_hidden

    return prompt_hidden(author_id=post.author_id, prompt=job.prompt, hide_prompt=post.hide_prompt)
