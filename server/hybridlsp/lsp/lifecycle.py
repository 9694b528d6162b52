"""Start-up and settings: the engine is built once `initialize` is answered, from the layered
settings (files and environment, then `initializationOptions`), and follows `didChangeConfiguration`.

An invalid client setting is refused whole: a `window/showMessage` names the key, a
`window/logMessage` records it, and the previous settings stay in force.
"""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from ..backends.settings import load_settings
from ..budget.status import BudgetWatch
from ..config import Settings, lsp_options_to_settings
from ..engine import Engine
from ..errors import ConfigError
from ..telemetry import exporter_for
from .findings import FindingsStore

if TYPE_CHECKING:
    from .server import HybridLanguageServer

__all__ = ["start", "did_change_configuration", "SECTION"]

logger = logging.getLogger(__name__)

SECTION = "hybridlsp"


def _refuse(ls: "HybridLanguageServer", err: ConfigError) -> None:
    message = f"hybridlsp: {err}. The previous settings stay in force."
    logger.warning("%s", message)
    ls.log(message, types.MessageType.Warning)
    ls.show(message, types.MessageType.Error)


def _with_client_options(ls: "HybridLanguageServer", base: Settings, options) -> Settings | None:
    """`base` with the client's options over it, or None (reported) when they are invalid."""
    try:
        return lsp_options_to_settings(base, options)
    except ConfigError as e:
        _refuse(ls, e)
        return None


def start(ls: "HybridLanguageServer", params: types.InitializeParams) -> None:
    """The server's state past `initialize`: settings (any note or refusal said to the client),
    the engine, the findings and budget watch, the telemetry exporter."""
    ls.findings = FindingsStore()
    ls.budget_watch = BudgetWatch()
    if ls.base_settings is None:
        root = ls.workspace.root_path
        try:
            ls.base_settings, notes = load_settings(Path(root) if root else None)
        except ConfigError as e:
            _refuse(ls, e)
            # keep the user's own file and environment: only the broken layer is dropped
            try:
                ls.base_settings, notes = load_settings(None)
                notes.append("the workspace's .hybridlsp.toml was ignored: it is invalid")
            except ConfigError:
                ls.base_settings, notes = Settings(), []
        for note in notes:
            ls.log(note, types.MessageType.Info)
    ls.settings = _with_client_options(ls, ls.base_settings, params.initialization_options) or ls.base_settings
    ls.engine = (ls.engine_factory or Engine)(ls.settings)
    _install_telemetry(ls)


def _install_telemetry(ls: "HybridLanguageServer") -> None:
    try:
        exporter = exporter_for(ls.settings)
    except ConfigError as e:
        _refuse(ls, e)
        return
    if exporter is not None:
        ls.engine.add_observer(exporter)


async def did_change_configuration(ls: "HybridLanguageServer", params: types.DidChangeConfigurationParams) -> None:
    options = params.settings
    if not options and _can_pull(ls):
        # a client that sends null settings expects the server to ask for them
        pulled = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)])
        )
        options = pulled[0] if pulled else None
    if not options or ls.engine is None:
        return
    settings = _with_client_options(ls, ls.base_settings, options)
    if settings is None or settings == ls.settings:
        return
    ls.settings = settings
    ls.engine.update_settings(settings)
    ls.log("hybridlsp: settings updated", types.MessageType.Info)


def _can_pull(ls: "HybridLanguageServer") -> bool:
    ws = ls.client_capabilities.workspace
    return bool(ws and ws.configuration)
