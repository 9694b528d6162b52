"""hybridlsp: a language server that routes each AI request to the cheapest model tier that can
do it well. The layers, and a request's path through them: docs/architecture.md."""

__all__ = ["version"]


def version() -> str:
    """The installed distribution's version ("0" when it has no metadata, as in a bare checkout)."""
    # importlib.metadata: ~10 ms of imports, paid only by what reports a version (server, exporter)
    from importlib.metadata import PackageNotFoundError, version as dist_version

    try:
        return dist_version("hybridlsp")
    except PackageNotFoundError:
        return "0"
