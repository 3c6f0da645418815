#!/bin/bash
# strata-gateway: runs one Strata gateway on an EC2 instance of the gateways
# module's autoscaling group. Installed as /usr/local/sbin/strata-gateway by
# the instance's user data; systemd runs `strata-gateway run` and
# `strata-gateway drain-watch`.
#
#   strata-gateway run          start the gateway container in the foreground
#   strata-gateway drain-watch  wait for scale-in, drain, let the ASG proceed
#   strata-gateway node-id IP   print the broker id derived from an IPv4 address
#
# Identity, from the instance metadata service (IMDSv2):
#   --node-id    the private IPv4 address as a 32-bit number with the top bit
#                cleared (broker ids are non-negative 31-bit integers). A VPC's
#                CIDR blocks are at most /16, so two addresses in one VPC
#                differ in their low 16 bits and get different ids; ids stay
#                stable while an instance lives and a replacement gets a new
#                one unless it reuses the address.
#   --rack       the Availability Zone (broker.rack), for rack-aware leaders
#                and KIP-392 follower fetching.
#   --advertised-listeners  the private address and the Kafka port: clients
#                connect to each gateway directly.
#
# Settings come from /etc/strata/gateway.conf (this script's: image, ports,
# drain timeout, the lifecycle hook) and /etc/strata/strata.env (STRATA_*
# variables passed to `strata serve` as they are).
set -euo pipefail

conf=${STRATA_GATEWAY_CONF:-/etc/strata/gateway.conf}
imds=${STRATA_IMDS_ENDPOINT:-http://169.254.169.254}

fail() {
	echo "strata-gateway: $*" >&2
	exit 1
}

# node_id IP prints the broker id for an IPv4 address.
node_id() {
	local ip=$1 a b c d
	[[ $ip =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || fail "not an IPv4 address: $ip"
	a=${BASH_REMATCH[1]} b=${BASH_REMATCH[2]} c=${BASH_REMATCH[3]} d=${BASH_REMATCH[4]}
	((a <= 255 && b <= 255 && c <= 255 && d <= 255)) || fail "not an IPv4 address: $ip"
	echo $((((a << 24) | (b << 16) | (c << 8) | d) & 0x7fffffff))
}

token=""
# md PATH prints an instance metadata value (IMDSv2: a session token first).
md() {
	if [[ -z $token ]]; then
		token=$(curl -fsS -X PUT "$imds/latest/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600')
	fi
	curl -fsS -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/$1"
}

load_conf() {
	[[ -r $conf ]] || fail "$conf is missing"
	# shellcheck disable=SC1090
	source "$conf"
	: "${STRATA_IMAGE:?} ${KAFKA_PORT:?} ${KAFKA_PROTOCOL:?} ${DRAIN_TIMEOUT:?} ${ENV_FILE:?}"
}

run() {
	load_conf
	local ip az
	ip=$(md local-ipv4)
	az=$(md placement/availability-zone)
	mkdir -p /var/lib/strata
	docker rm -f strata >/dev/null 2>&1 || true
	# Host networking: the gateway listens on the instance's own address
	# (which it advertises) and reaches IMDS for its S3 credentials without
	# an extra network hop.
	exec docker run --rm --name strata --network host \
		--stop-timeout "$DRAIN_TIMEOUT" \
		--ulimit nofile=1048576:1048576 \
		-v /var/lib/strata:/var/lib/strata \
		--env-file "$ENV_FILE" \
		-e STRATA_NODE_ID="$(node_id "$ip")" \
		-e STRATA_RACK="$az" \
		-e STRATA_ADVERTISED_LISTENERS="$KAFKA_PROTOCOL://$ip:$KAFKA_PORT" \
		"$STRATA_IMAGE" serve
}

# drain_watch waits until the autoscaling group marks this instance for
# termination (the termination lifecycle hook holds it in Terminating:Wait),
# stops the gateway with SIGTERM so it hands its partitions over and flushes,
# then completes the lifecycle action so termination proceeds.
drain_watch() {
	load_conf
	: "${ASG_NAME:?} ${LIFECYCLE_HOOK:?} ${REGION:?}"
	local state
	while :; do
		state=$(md autoscaling/target-lifecycle-state 2>/dev/null || true)
		[[ $state == Terminated ]] && break
		sleep 5
	done
	echo "strata-gateway: scale-in: draining" >&2
	systemctl stop strata-gateway.service || true
	aws autoscaling complete-lifecycle-action --region "$REGION" \
		--auto-scaling-group-name "$ASG_NAME" --lifecycle-hook-name "$LIFECYCLE_HOOK" \
		--instance-id "$(md instance-id)" --lifecycle-action-result CONTINUE
}

case "${1:-}" in
run) run ;;
drain-watch) drain_watch ;;
node-id) node_id "${2:?usage: strata-gateway node-id IPV4}" ;;
*) fail "usage: strata-gateway run | drain-watch | node-id IPV4" ;;
esac
