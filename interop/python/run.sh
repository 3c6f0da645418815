#!/usr/bin/env bash
# Runs the Python interoperability suite (Confluent's confluent-kafka client,
# its AdminClient and its schema registry serializers) against the given
# strata binary, which each test session starts itself (conftest.py).
#
# The packages live in a virtual environment in the cache directory
# (scripts/cache-dir.sh), outside the repository. It is rebuilt from scratch
# only when requirements.txt or the Python version changes: a stamp holding
# the hash of both is written last, so an install that failed half way is
# redone on the next run. Extra arguments go to pytest.
#
# Usage: interop/python/run.sh path/to/strata [pytest args...]
set -euo pipefail

bin=${1:?usage: run.sh path/to/strata [pytest args...]}
shift
[ -x "$bin" ] || {
	echo "interop/python: $bin is not an executable" >&2
	exit 1
}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

python=${PYTHON:-python3}
command -v "$python" >/dev/null 2>&1 || {
	echo "interop/python: $python is needed" >&2
	exit 1
}

cache=$("$root/scripts/cache-dir.sh")
venv=$cache/python/interop-venv
mkdir -p "$cache/python"

# One run at a time builds or uses the environment.
exec 9>"$cache/python/interop-venv.lock"
flock 9

want=$({
	"$python" --version 2>&1
	cat "$here/requirements.txt"
} | sha256sum | cut -d' ' -f1)
stamp=$venv/.strata-requirements.sha256
if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
	echo "interop/python: building the virtual environment in $venv" >&2
	rm -rf "$venv"
	"$python" -m venv "$venv"
	"$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q \
		-r "$here/requirements.txt"
	echo "$want" >"$stamp"
fi

# Nothing is written into the repository: no bytecode, no pytest cache
# (pytest.ini turns the cache off).
cd "$here"
PYTHONDONTWRITEBYTECODE=1 STRATA_BIN=$bin exec "$venv/bin/python" -m pytest "$@"
