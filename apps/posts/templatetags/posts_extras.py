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


def _reaction_labels() -> dict[str, str]:
    from django.utils.translation import gettext

    return {
        "like": gettext("Like"),
        "love": gettext("Love"),
        "haha": gettext("Haha"),
        "wow": gettext("Wow"),
        "fire": gettext("Fire"),
    }


@register.simple_tag(takes_context=True)
def reaction_buttons(context, post):
    """The reaction buttons of a post for this viewer (``posts/partials/reactions.html``): one
    form per kind, pressed for those the viewer gave. Signed in: every kind, so any can be the
    first; visitors: Like and those given, disabled. Built here rather than in the template: a
    page of cards rendered five forms a card through the template engine, half of each card's
    time."""
    from django.templatetags.static import static
    from django.utils.html import format_html, format_html_join

    user = context.get("user")
    signed_in = bool(user is not None and user.is_authenticated)
    # What every card of the page shares (the form's token, the sprite, the labels in the
    # request's language), made once per request.
    request = context.get("request")
    shared = getattr(request, "_reaction_buttons", None)
    if shared is None:
        token = context.get("csrf_token")
        csrf = ""
        if token and str(token) != "NOTPROVIDED":
            csrf = format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)
        shared = (csrf, static("icons/reactions.svg"), _reaction_labels())
        if request is not None:
            request._reaction_buttons = shared
    csrf, sprite, labels = shared
    url = reverse("posts:react", args=[post.id])
    given = set(getattr(post, "viewer_reacted", None) or ())
    rows = []
    for kind, count in post.reactions.items():
        if not (kind == "like" or count or signed_in):
            continue
        on = kind in given
        rows.append(
            (
                url,
                url,
                csrf,
                kind,
                format_html('<input type="hidden" name="action" value="remove">') if on else "",
                " on" if on else "",
                kind,
                "" if signed_in else " disabled",
                "true" if on else "false",
                labels.get(kind, labels["fire"]),
                sprite,
                kind,
                kind,
                count,
            )
        )
    return format_html_join(
        "\n",
        '<form hx-post="{}" hx-target="closest .reactions" hx-swap="outerHTML" method="post"'
        ' action="{}" class="inline">{}<input type="hidden" name="kind" value="{}">{}'
        '<button type="submit" class="reaction{}" data-kind="{}"{} aria-pressed="{}">'
        '<svg class="icon" role="img" aria-label="{}" width="18" height="18" focusable="false">'
        '<use href="{}#r-{}"></use></svg><span class="count" data-count="{}">{}</span>'
        "</button></form>",
        rows,
    )
