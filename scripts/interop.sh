#!/usr/bin/env bash
# Runs the interoperability suites in interop/ against the given strata
# binary: the Maven project (the Java client, Kafka's tools, Connect, Kafka
# Streams, Flink), whose downloads Maven keeps in its own repository outside
# this one, and the Python part (interop/python/run.sh), whose packages go to
# a virtual environment in the cache directory (scripts/cache-dir.sh).
#
# Usage: scripts/interop.sh path/to/strata
set -euo pipefail

bin=${1:?usage: interop.sh path/to/strata}
[ -x "$bin" ] || {
	echo "interop: $bin is not an executable" >&2
	exit 1
}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
root=$(cd "$(dirname "$0")/.." && pwd)

if [ -f "$root/interop/pom.xml" ]; then
	command -v mvn >/dev/null 2>&1 || {
		echo "interop: mvn (Maven) is needed for the JVM suites" >&2
		exit 1
	}
	mvn -B -ntp -f "$root/interop/pom.xml" verify -Dstrata.bin="$bin"
fi
if [ -x "$root/interop/python/run.sh" ]; then
	"$root/interop/python/run.sh" "$bin"
fi
