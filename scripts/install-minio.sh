#!/usr/bin/env bash
# install-minio.sh VERSION
#
# Installs the MinIO server binary that the tests run (internal/testenv) into
# a cache directory outside the repository, and prints its path. Idempotent:
# it builds only when the binary is absent, so `make test` can call it every
# time. VERSION is a github.com/minio/minio module version; the tests pin it
# as testenv.MinIOVersion.
#
# Where, the same rule as testenv.MinIOBinary:
#   $STRATA_MINIO_BIN, if set (not installed: only checked), else
#   <cache>/minio/VERSION/minio, where <cache> is $STRATA_CACHE_DIR, else
#   $XDG_CACHE_HOME/strata, else $HOME/.cache/strata.
set -euo pipefail

version="${1:?usage: install-minio.sh VERSION}"

if [[ -n "${STRATA_MINIO_BIN:-}" ]]; then
	if [[ ! -x "$STRATA_MINIO_BIN" ]]; then
		echo "install-minio: STRATA_MINIO_BIN=$STRATA_MINIO_BIN is not an executable file" >&2
		exit 1
	fi
	echo "$STRATA_MINIO_BIN"
	exit 0
fi

cache=$("$(dirname "$0")/cache-dir.sh")
dir="$cache/minio/$version"
bin="$dir/minio"

if [[ ! -x "$bin" ]]; then
	echo "install-minio: building github.com/minio/minio@$version (takes a few minutes, once)" >&2
	mkdir -p "$dir"
	# Build into a temp dir next to the final path and rename, so an
	# interrupted build never leaves a partial binary that looks installed.
	# GOFLAGS is cleared so a developer's flags for this repository (say
	# -mod=vendor) do not apply to building another module.
	tmp="$(mktemp -d "$dir/.install.XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT
	GOBIN="$tmp" GOFLAGS= go install "github.com/minio/minio@$version"
	mv "$tmp/minio" "$bin"
fi
echo "$bin"
