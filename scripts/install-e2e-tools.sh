#!/usr/bin/env bash
# Installs what the end-to-end scripts run, when missing: kcat, curl and
# PostgreSQL's server (for the Kafka Connect suite) from Debian's packages,
# and the kafkajs client from npm into the cache directory
# (scripts/cache-dir.sh), outside the repository. Idempotent.
set -euo pipefail

kafkajs_version=2.2.4

# PostgreSQL's server for the Kafka Connect suite's Debezium source
# (interop/connect starts its own server from these binaries).
have_postgres() {
	compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || command -v postgres >/dev/null 2>&1
}
packages=()
command -v kcat >/dev/null 2>&1 || packages+=(kcat)
command -v curl >/dev/null 2>&1 || packages+=(curl)
have_postgres || packages+=(postgresql)
if [ ${#packages[@]} -gt 0 ]; then
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		sudo="sudo"
	fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq "${packages[@]}"
	command -v kcat curl >/dev/null
	have_postgres
fi

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || {
	echo "install-e2e-tools: node and npm are needed for the kafkajs end-to-end check" >&2
	exit 1
}
dir="$("$(dirname "$0")/cache-dir.sh")/npm/kafkajs-$kafkajs_version"
if [ ! -f "$dir/node_modules/kafkajs/package.json" ]; then
	mkdir -p "$dir"
	npm install --silent --no-audit --no-fund --prefix "$dir" "kafkajs@$kafkajs_version" >&2
fi
