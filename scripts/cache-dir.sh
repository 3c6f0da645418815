#!/usr/bin/env bash
# Prints the directory where installers keep what they build or download,
# outside the repository, the same rule as internal/testenv:
# $STRATA_CACHE_DIR, else $XDG_CACHE_HOME/strata, else $HOME/.cache/strata.
set -euo pipefail
if [[ -n "${STRATA_CACHE_DIR:-}" ]]; then
	echo "$STRATA_CACHE_DIR"
elif [[ -n "${XDG_CACHE_HOME:-}" ]]; then
	echo "$XDG_CACHE_HOME/strata"
else
	echo "${HOME:?HOME is not set}/.cache/strata"
fi
