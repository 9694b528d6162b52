#!/bin/sh
# Install (or --uninstall) the hybridlsp prepare-commit-msg hook in the current repository.
# The logic lives in the CLI: `hybridlsp install-hook`.
exec "${HYBRIDLSP:-hybridlsp}" install-hook "$@"
