"""Resolve the configured handler import path to a callable."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from canary.core.checksum import Row
from canary.errors import ConfigError

Handler = Callable[[bytes | None, bytes | None], Row]


def load_handler(path: str) -> Handler:
    """``"package.module:function"`` -> the function; a bad path is a ConfigError."""
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - a handler module may fail to import in any way
        raise ConfigError(
            "config", "handler.path", f"cannot import {module_name!r}: {exc}"
        ) from None
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise ConfigError(
            "config", "handler.path", f"{module_name!r} has no function {attribute!r}"
        )
    return cast(Handler, handler)
