"""Content negotiation for the API: DRF's, answering at once what nearly every client sends."""

from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation


class ApiContentNegotiation(DefaultContentNegotiation):
    """With no format named in the URL and an ``Accept`` of nothing, ``*/*`` or exactly the
    first renderer's type, DRF's answer is that renderer with its own type: given here without
    parsing the header (every API request asks). Anything else goes through DRF's own."""

    def select_renderer(self, request, renderers, format_suffix=None):
        if renderers and not format_suffix:
            renderer = renderers[0]
            accept = request.META.get("HTTP_ACCEPT", "*/*")
            override = self.settings.URL_FORMAT_OVERRIDE
            if accept in ("*/*", renderer.media_type) and not (
                override and override in request.query_params
            ):
                return renderer, renderer.media_type
        return super().select_renderer(request, renderers, format_suffix)
