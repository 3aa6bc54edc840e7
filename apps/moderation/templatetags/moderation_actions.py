"""Choices for the moderators' action forms (so the forms follow the code's lists)."""

from django import template

from apps.moderation import actions
from apps.moderation.models import Reason

register = template.Library()

PRESET_LABELS = {
    "first_time": "First time: a reminder",
    "repeat": "Repeat: next time a suspension",
    "spam_wave": "Spam wave",
    "likeness": "Likeness without consent",
    "minor_safety": "Minor safety",
}


@register.simple_tag
def reason_codes() -> list[tuple[str, str]]:
    return list(Reason.choices)


@register.simple_tag
def message_presets() -> list[tuple[str, str]]:
    return [(key, PRESET_LABELS.get(key, key)) for key in actions.MESSAGE_PRESETS]
