#!/usr/bin/env bash
# Installs what the end-to-end script runs, kcat and curl, from Debian's
# packages when they are missing. Idempotent.
set -euo pipefail
if command -v kcat >/dev/null 2>&1 && command -v curl >/dev/null 2>&1; then
	exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq kcat curl
command -v kcat curl
