#!/usr/bin/env bash
# Installs pyarrow and pyiceberg from PyPI into a Python virtual environment
# under the cache directory (scripts/cache-dir.sh), outside the repository:
# the independent readers of `strata replay --format parquet` output in the
# cmd/strata tests (TestReplayParquet*), which look for
# <cache>/pyvenv/parquet-readers-<pyarrow>-<pyiceberg>/bin/python.
# Idempotent; prints the environment's python.
set -euo pipefail

pyarrow_version=26.0.1
pyiceberg_version=0.12.0

command -v python3 >/dev/null 2>&1 || {
	echo "install-pyarrow: python3 is needed" >&2
	exit 1
}
dir="$("$(dirname "$0")/cache-dir.sh")/pyvenv/parquet-readers-$pyarrow_version-$pyiceberg_version"
if ! "$dir/bin/python" -c "import pyarrow, pyiceberg.table" >/dev/null 2>&1; then
	rm -rf "$dir"
	python3 -m venv "$dir"
	"$dir/bin/python" -m pip install --quiet --disable-pip-version-check \
		"pyarrow==$pyarrow_version" "pyiceberg==$pyiceberg_version" >&2
fi
echo "$dir/bin/python"
