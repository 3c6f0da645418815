#!/usr/bin/env bash
# Installs kcat (for the end-to-end script) from Debian's packages when it is
# missing. Idempotent.
set -euo pipefail
if command -v kcat >/dev/null 2>&1; then
	exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq kcat
command -v kcat
