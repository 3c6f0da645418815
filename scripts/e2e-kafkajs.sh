#!/usr/bin/env bash
# End-to-end consumer group check with kafkajs (scripts/e2e/kafkajs-group.cjs):
# three members share a six-partition topic and read every record once; one
# leaves and the others take over; strata restarts (SIGTERM) and a new member
# resumes from the committed offsets.
#
# Usage: scripts/e2e-kafkajs.sh path/to/strata
# kafkajs comes from scripts/install-e2e-tools.sh.
set -euo pipefail

bin=${1:?usage: e2e-kafkajs.sh path/to/strata}
work=$(mktemp -d)
name=e2e-kafkajs
serve_args=(--flush-interval 20ms)
here=$(dirname "$0")
# shellcheck source=scripts/e2e-lib.sh
. "$here/e2e-lib.sh"

modules="$("$here/cache-dir.sh")/npm/kafkajs-2.2.4/node_modules"
[ -d "$modules/kafkajs" ] || fail "kafkajs is not installed; run scripts/install-e2e-tools.sh"
export NODE_PATH=$modules KAFKAJS_NO_PARTITIONER_WARNING=1

start
echo "$name: strata serving on $broker"
timeout 300 node "$here/e2e/kafkajs-group.cjs" group "$broker" || fail "group phase"
stop
start
timeout 120 node "$here/e2e/kafkajs-group.cjs" resume "$broker" || fail "resume phase"
stop
echo "$name: 1 passed, 0 failed"
