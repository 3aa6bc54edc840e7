"""The API's JSON renderer: DRF's answers, serialised by orjson.

DRF's ``JSONRenderer`` spends a good part of a feed page's fixed cost in ``json.dumps``
and its Python ``default`` hook. ``FastJSONRenderer`` produces the same bytes for what the
API sends (compact separators, UTF-8 without ``\\u`` escapes, ``\\u2028``/``\\u2029``
escaped, the same media type and no charset), and every type orjson does not write itself
(datetimes, dates and times, Decimal, lazy translations, querysets, bytes, IP addresses)
goes through DRF's own encoder, so it is written exactly as before: a datetime in UTC
ends in ``Z``, a Decimal becomes a number, a lazy string its translation.

Two differences, neither reachable from Vivid's serialisers: a float written in exponent
form may be spelled differently (``0.00001`` rather than ``1e-05``: the same number), and
a non-finite float (NaN, infinity) would be written as ``null`` where DRF's strict mode
raises. Anything orjson refuses (integers beyond 64 bits, non-string keys, lone
surrogates, a requested indent) falls back to DRF's renderer, errors included.
"""

from __future__ import annotations

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_default = JSONEncoder().default
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_LS, _PS = "\u2028".encode(), "\u2029".encode()


class FastJSONRenderer(JSONRenderer):
    """``rest_framework.renderers.JSONRenderer``'s output, written by orjson."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if (
            self.ensure_ascii
            or not self.compact
            or not self.strict
            or self.get_indent(accepted_media_type, renderer_context or {}) is not None
        ):
            return super().render(data, accepted_media_type, renderer_context)
        try:
            ret = orjson.dumps(data, default=_default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        if _LS in ret or _PS in ret:
            ret = ret.replace(_LS, b"\\u2028").replace(_PS, b"\\u2029")
        return ret
