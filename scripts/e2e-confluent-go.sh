#!/usr/bin/env bash
# End-to-end check with Confluent's Go client (confluent-kafka-go, i.e.
# librdkafka through cgo), its schema registry serdes and its transactional
# producer: runs the Go tests of the separate module scripts/e2e/confluentgo
# against the given strata binary. The first run builds librdkafka's
# bindings with cgo (gcc needed).
#
# Usage: scripts/e2e-confluent-go.sh path/to/strata
set -euo pipefail

bin=${1:?usage: e2e-confluent-go.sh path/to/strata}
[ -x "$bin" ] || {
	echo "e2e-confluent-go: $bin is not an executable" >&2
	exit 1
}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
cd "$(dirname "$0")/e2e/confluentgo"
STRATA_BIN=$bin CGO_ENABLED=1 ${GO:-go} test -count=1 -timeout 10m ./...
