"""Backends listed in ``settings.GENERATION_BACKENDS``, loaded by dotted path once per process."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from apps.generation.backends.base import GenerationBackend


@cache
def _backends() -> dict[str, GenerationBackend]:
    loaded = {}
    for alias, conf in settings.GENERATION_BACKENDS.items():
        cls = import_string(conf["BACKEND"])
        for impl in cls(alias, **conf.get("OPTIONS", {})).expand():
            loaded[impl.alias] = impl
    return loaded


def backend_get(alias: str) -> GenerationBackend | None:
    return _backends().get(alias)


def backend_list() -> list[GenerationBackend]:
    return list(_backends().values())


def _reset(*, setting: str, **kwargs) -> None:
    if setting == "GENERATION_BACKENDS":
        _backends.cache_clear()


setting_changed.connect(_reset)
