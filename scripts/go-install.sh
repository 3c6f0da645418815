#!/usr/bin/env bash
# go-install.sh NAME MODULE VERSION
#
# Builds the command MODULE@VERSION with the Go toolchain into
# <cache>/NAME/VERSION/NAME (the cache dir of scripts/cache-dir.sh, outside
# the repository) unless it is there already, and prints its path.
set -euo pipefail

name=${1:?usage: go-install.sh NAME MODULE VERSION}
module=${2:?usage: go-install.sh NAME MODULE VERSION}
version=${3:?usage: go-install.sh NAME MODULE VERSION}
dir="$("$(dirname "$0")/cache-dir.sh")/$name/$version"
bin="$dir/$name"
if [[ ! -x "$bin" ]]; then
	echo "go-install: building $module@$version" >&2
	mkdir -p "$dir"
	# Build into a temp dir next to the final path and rename, so an
	# interrupted build never leaves a partial binary that looks installed.
	# GOFLAGS is cleared so a developer's flags for this repository (say
	# -mod=vendor) do not apply to building another module.
	tmp="$(mktemp -d "$dir/.install.XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT
	GOBIN="$tmp" GOFLAGS= go install "$module@$version"
	mv "$tmp/$name" "$bin"
fi
echo "$bin"
