#!/usr/bin/env bash
# install-nats.sh
#
# Installs the nats-server binary that localstack/run.sh runs, at the
# version go.mod pins (the one Strata embeds), with scripts/go-install.sh,
# and prints its path. Idempotent.
set -euo pipefail

here=$(dirname "$0")
version=$(cd "$here/.." && go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)
exec "$here/go-install.sh" nats-server github.com/nats-io/nats-server/v2 "$version"
