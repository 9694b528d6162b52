"""The settings as every entry point loads them: the files and the environment
(`config.load_settings`), with this package's one answer to local-or-cloud (`location.is_cloud`),
so that a workspace file cannot move a local tier to the cloud, by a cloud backend's name or by an
Ollama `*-cloud` model. `serve` and every command load them here."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .. import config
from ..config import Settings
from .location import is_cloud

__all__ = ["load_settings"]


def load_settings(workspace: Path | None = None, env: Mapping[str, str] | None = None) -> tuple[Settings, list[str]]:
    """`config.load_settings` judged by `location.is_cloud`: the settings and the notes about them."""
    return config.load_settings(workspace, env, is_cloud=is_cloud)
