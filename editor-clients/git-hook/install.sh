#!/bin/sh
# Install (or with --uninstall, remove) hybridlsp's prepare-commit-msg hook in the repository
# of the current directory. Idempotent; a hook that was already there is kept as
# prepare-commit-msg.chained and still runs first.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
hooks=$(git rev-parse --git-path hooks)
mkdir -p "$hooks"
hook="$hooks/prepare-commit-msg"
marker="hybridlsp prepare-commit-msg hook"

ours() { [ -f "$hook" ] && grep -q "$marker" "$hook"; }

if [ "${1:-}" = "--uninstall" ]; then
    if ours; then
        rm -f "$hook"
        [ -f "$hook.chained" ] && mv "$hook.chained" "$hook"
        echo "hybridlsp: removed the hook from $hooks"
    else
        echo "hybridlsp: no hybridlsp hook in $hooks"
    fi
    exit 0
fi

if [ -e "$hook" ] && ! ours; then
    mv "$hook" "$hook.chained"
    echo "hybridlsp: kept your existing hook as $hook.chained; it runs first"
fi
# the hybridlsp found now, so that commits from a GUI without this PATH still find it
found=$(command -v hybridlsp || echo hybridlsp)
sed "s|@HYBRIDLSP@|$found|" "$here/prepare-commit-msg" > "$hook.tmp"
chmod +x "$hook.tmp"
mv "$hook.tmp" "$hook"
echo "hybridlsp: installed $hook (using $found)"
