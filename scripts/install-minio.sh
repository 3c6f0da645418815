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

exec "$(dirname "$0")/go-install.sh" minio github.com/minio/minio "$version"
