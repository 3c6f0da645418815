#!/usr/bin/env bash
# install-nats.sh
#
# Installs the nats-server binary that scripts/cluster.sh runs, built with the
# Go toolchain at the version go.mod pins (the one Strata embeds), into the
# cache directory (scripts/cache-dir.sh), and prints its path. Idempotent.
set -euo pipefail

here=$(dirname "$0")
version=$(cd "$here/.." && go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)
dir="$("$here/cache-dir.sh")/nats-server/$version"
bin="$dir/nats-server"
if [[ ! -x "$bin" ]]; then
	echo "install-nats: building github.com/nats-io/nats-server/v2@$version" >&2
	mkdir -p "$dir"
	tmp="$(mktemp -d "$dir/.install.XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT
	GOBIN="$tmp" GOFLAGS= go install "github.com/nats-io/nats-server/v2@$version"
	mv "$tmp/nats-server" "$bin"
fi
echo "$bin"
