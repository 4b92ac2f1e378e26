"""Settings and the files admins edit, validated on load.

Every message names the file, the source and the field, so an admin can fix a
mistake without reading code.
"""

from __future__ import annotations

from config.loader import (
    ConfigError,
    Settings,
    SourceConfig,
    build_settings,
    load_settings,
    load_sources,
    parse_source_settings,
)

__all__ = [
    "ConfigError",
    "Settings",
    "SourceConfig",
    "build_settings",
    "load_settings",
    "load_sources",
    "parse_source_settings",
]
