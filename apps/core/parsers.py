"""The API's JSON parser, with bounds a hostile body cannot get past.

- Size: DRF hands the parser the body read through ``HttpRequest.body``, which refuses more
  than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (``RequestDataTooBig``, answered 413 ``payload_too_large``
  by ``apps.core.exceptions``); the ASGI ``BodyLimitMiddleware`` (apps.media.bodylimit) refuses
  a declared length over its cap before anything is read. The parser checks the size again
  itself, so a stream handed to it some other way is bounded too.
- Depth: Python's decoder recurses once per nested array or object, and a body of 5,000 ``[``
  ran it out of stack (a 500). Nesting is measured before decoding, in one pass that skips
  strings, and past ``JSON_MAX_DEPTH`` the answer is 400 ``invalid``; no request of the API
  nests more than a few levels.
- Numbers: ``NaN``/``Infinity`` (DRF's strict mode) and numbers that overflow a float (``1e999``)
  are refused, so no field ever sees an infinite value; integers longer than Python's
  4,300-digit conversion limit are refused by the decoder (400 as well).
"""

from __future__ import annotations

import json
import math
import re

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils.json import strict_constant


def _error() -> type:
    """``ApplicationError``, imported when first needed: DRF imports this module (a setting)
    while importing its views, which apps.core.exceptions imports in turn."""
    from apps.core.exceptions import ApplicationError

    return ApplicationError


# Strings (with their escapes) and the brackets between them; everything else is skipped.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def nesting_depth(data: bytes, limit: int) -> int:
    """How deep the arrays and objects of ``data`` nest, stopping early past ``limit``."""
    depth = deepest = 0
    for match in _TOKENS.finditer(data):
        char = match.group()[:1]
        if char in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif char in (b"]", b"}"):
            depth -= 1
    return deepest


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:20]}")
    return value


class BoundedJSONParser(parsers.JSONParser):
    """DRF's JSONParser with a size, nesting and number bound (see the module docstring)."""

    def parse(self, stream, media_type=None, parser_context=None):
        if stream is None:
            return None
        cap = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        data = stream.read() if cap is None else stream.read(cap + 1)
        if cap is not None and len(data) > cap:
            raise _error()("payload_too_large", f"The request is larger than {cap // 1024} KiB.")
        limit = settings.JSON_MAX_DEPTH
        if nesting_depth(data, limit) > limit:
            raise _error()("invalid", f"The JSON body nests more than {limit} levels deep.")
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(
                data.decode(encoding),
                parse_constant=strict_constant if self.strict else None,
                parse_float=_finite_float,
            )
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
