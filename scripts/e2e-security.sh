#!/usr/bin/env bash
# End-to-end security check with unmodified non-Go clients, kcat (librdkafka)
# and kafkajs (scripts/e2e/kafkajs-security.cjs), as a user would run them:
# a gateway with a SASL_SSL, a SASL_PLAINTEXT and a mutual-TLS (SSL) listener,
# users admin and alice (--add-scram), ACLs enforced with admin as super user,
# and certificates from scripts/gen-certs.sh plus an expired client
# certificate from the same CA.
#
# As admin, kafkajs creates the topics orders and secret and alice's ACLs
# (kcat cannot create ACLs). Then, with each client:
#   - alice produces N keyed messages to orders over SASL_SSL with
#     SCRAM-SHA-512, over SASL_PLAINTEXT with PLAIN and over mutual TLS (as
#     the certificate CN=alice), and reads them back in a group under her
#     alice- prefix: count, keys and values must match;
#   - clients that must be refused are, within a bound and with the error a
#     user would see: a wrong password, an unknown user, an expired client
#     certificate, a plaintext client on the TLS listener, a TLS client on
#     the plaintext one, alice producing to secret (TOPIC_AUTHORIZATION_FAILED)
#     and alice in a group outside her prefix (GROUP_AUTHORIZATION_FAILED);
#   - none of the refused clients wrote anything: the end offsets of orders
#     and secret, read as admin, do not move.
# Every check runs, and the script fails at the end if any failed.
#
# Usage: scripts/e2e-security.sh path/to/strata
# kcat, openssl and kafkajs come from scripts/install-e2e-tools.sh.
set -euo pipefail

bin=${1:?usage: e2e-security.sh path/to/strata}
n=500
work=$(mktemp -d)
name=e2e-security
here=$(dirname "$0")
certs=$work/certs
serve_args=(
	--listeners 'SASL_SSL://127.0.0.1:0,INTERNAL://127.0.0.1:0,SSL://127.0.0.1:0'
	--listener-security-protocol-map 'SASL_SSL:SASL_SSL,INTERNAL:SASL_PLAINTEXT,SSL:SSL'
	--ssl-cert-file "$certs/server.crt" --ssl-key-file "$certs/server.key"
	--ssl-client-ca-file "$certs/ca.crt" --ssl-client-auth required
	--ssl-principal-mapping-rules 'RULE:^CN=([^,]*)$/$1/,DEFAULT'
	--add-scram 'SCRAM-SHA-512=[name=admin,password=admin-secret]'
	--add-scram 'SCRAM-SHA-512=[name=alice,password=alice-secret]'
	--authorizer acl --super-users User:admin
)
# shellcheck source=scripts/e2e-lib.sh
. "$here/e2e-lib.sh"

modules="$("$here/cache-dir.sh")/npm/kafkajs-2.2.4/node_modules"
[ -d "$modules/kafkajs" ] || fail "kafkajs is not installed; run scripts/install-e2e-tools.sh"
command -v kcat >/dev/null || fail "kcat is not installed; run scripts/install-e2e-tools.sh"
export NODE_PATH=$modules KAFKAJS_NO_PARTITIONER_WARNING=1 CERTS=$certs

passed=0
failed=0
produced=0 # messages the round trips' producers were acknowledged
ok() {
	echo "$name: ok: $*"
	passed=$((passed + 1))
}
bad() {
	echo "$name: FAIL: $*" >&2
	failed=$((failed + 1))
}

# ms_since prints the milliseconds since $1, an $EPOCHREALTIME.
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }'; }

# expired_cert issues $certs/alice-expired.{crt,key}: CN=alice, signed by
# the same CA, valid only on 2020-01-01. openssl 3.0's x509 cannot backdate
# a certificate; `openssl ca` can, with a throwaway CA database.
expired_cert() {
	local db=$work/expired-ca
	mkdir -p "$db"
	: >"$db/index.txt"
	echo 1000 >"$db/serial"
	cat >"$db/openssl.cnf" <<EOF
[ca]
default_ca = expired
[expired]
database = $db/index.txt
new_certs_dir = $db
serial = $db/serial
default_md = sha256
policy = any
unique_subject = no
x509_extensions = client
[any]
commonName = supplied
[client]
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
EOF
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=alice \
		-keyout "$certs/alice-expired.key" -out "$db/alice-expired.csr" 2>"$db/err" || fail "openssl req: $(cat "$db/err")"
	openssl ca -batch -notext -config "$db/openssl.cnf" -cert "$certs/ca.crt" -keyfile "$certs/ca.key" \
		-startdate 20200101000000Z -enddate 20200102000000Z \
		-in "$db/alice-expired.csr" -out "$certs/alice-expired.crt" 2>"$db/err" || fail "openssl ca: $(cat "$db/err")"
	if openssl verify -CAfile "$certs/ca.crt" "$certs/alice-expired.crt" >"$db/verify" 2>&1; then
		fail "openssl verify accepts the expired certificate"
	fi
	grep -q "certificate has expired" "$db/verify" || fail "openssl verify: $(cat "$db/verify"), want 'certificate has expired'"
}

# listener_addr prints the address of the listener named $1 from its
# "serving kafka listener" log line.
listener_addr() {
	sed -n "s/.*msg=\"serving kafka listener\" listener=$1 .* listen=\\([0-9.:]*\\).*/\\1/p" "$work/strata.log" | head -n1
}

# The three ways in, as kcat's settings.
kcat_scram=(-X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512 -X "ssl.ca.location=$certs/ca.crt")
kcat_plain=(-X security.protocol=SASL_PLAINTEXT -X sasl.mechanism=PLAIN)
kcat_mtls=(-X security.protocol=SSL -X "ssl.ca.location=$certs/ca.crt")
kcat_alice=(-X sasl.username=alice -X sasl.password=alice-secret)
kcat_alice_cert=(-X "ssl.certificate.location=$certs/alice.crt" -X "ssl.key.location=$certs/alice.key")

# kcat_roundtrip MODE BROKER KCAT-ARGS...: alice produces $n keyed messages
# to orders, then reads the topic in the group alice-kcat-MODE until its end
# (-e); the messages of this run must come back exactly, keys included.
kcat_roundtrip() {
	local mode=$1 broker=$2
	shift 2
	local prefix=kcat-$mode
	seq 0 $((n - 1)) | awk -v p="$prefix" '{ printf "%s-k%d:%s-v%06d\n", p, $1 % 17, p, $1 }' >"$work/$prefix.want"
	if ! timeout 30 kcat -P -b "$broker" -t orders -K: -X acks=all -X message.timeout.ms=10000 "$@" \
		<"$work/$prefix.want" 2>"$work/$prefix.err"; then
		bad "kcat $mode: alice produces $n messages to orders: $(tail -n 3 "$work/$prefix.err")"
		return
	fi
	produced=$((produced + n))
	if ! timeout 30 kcat -b "$broker" -G "alice-$prefix" -X auto.offset.reset=earliest -e -q -f '%k:%s\n' "$@" orders \
		>"$work/$prefix.got" 2>"$work/$prefix.err"; then
		bad "kcat $mode: alice reads orders in group alice-$prefix: $(tail -n 3 "$work/$prefix.err")"
		return
	fi
	grep "^$prefix-" "$work/$prefix.got" | sort >"$work/$prefix.got.sorted" || true
	local count
	count=$(wc -l <"$work/$prefix.got.sorted")
	if [ "$count" -ne "$n" ]; then
		bad "kcat $mode: alice read $count of her $n messages back"
	elif ! sort "$work/$prefix.want" | cmp -s - "$work/$prefix.got.sorted"; then
		bad "kcat $mode: the messages read back differ from those produced"
	else
		ok "kcat $mode: alice produced $n keyed messages to orders and read all $n back (keys and values) in group alice-$prefix"
	fi
}

# kcat_refused CASE WANT BROKER TOPIC KCAT-ARGS...: a kcat producer that
# must be refused sends one message to TOPIC; kcat must exit non-zero by
# itself (not by `timeout`) with WANT (an extended regex) on stderr.
kcat_refused() {
	local which=$1 want=$2 broker=$3 topic=$4 rc=0 start=$EPOCHREALTIME
	shift 4
	echo "refused:$which" | timeout 20 kcat -P -b "$broker" -t "$topic" -K: -X message.timeout.ms=5000 "$@" \
		>/dev/null 2>"$work/refused-$which.err" || rc=$?
	local took err
	took=$(ms_since "$start")
	# librdkafka's log line, from its message on.
	err=$(grep -Em1 "$want" "$work/refused-$which.err" | sed -E 's/^%[0-9]+\|[^|]*\|[^|]*\|[^|]*\| \[[^]]*\]: //; s/^% //' || true)
	if [ "$rc" -eq 0 ]; then
		bad "kcat $which: the message was accepted"
	elif [ "$rc" -eq 124 ]; then
		bad "kcat $which: kcat still ran after 20 s"
	elif ! grep -Eq "$want" "$work/refused-$which.err"; then
		bad "kcat $which: exit $rc without /$want/: $(tail -n 3 "$work/refused-$which.err")"
	else
		ok "kcat $which: refused, exit $rc after $took ms: $err"
	fi
}

# kafkajs ARGS...: runs the kafkajs helper under a bound.
kafkajs() { timeout 60 node "$here/e2e/kafkajs-security.cjs" "$@"; }

# kafkajs_roundtrip MODE BROKER: the helper's round trip, as kcat_roundtrip.
kafkajs_roundtrip() {
	local out
	if out=$(kafkajs roundtrip "$1" "$2" "$n" "kafkajs-$1" 2>&1); then
		produced=$((produced + n))
		ok "kafkajs ${out#*kafkajs: }"
	else
		bad "kafkajs $1: $out"
	fi
}

kafkajs_refused() {
	local out
	if out=$(kafkajs refused "$1" "$2" 2>&1); then
		ok "kafkajs ${out#*kafkajs: }"
	else
		bad "kafkajs $1: $out"
	fi
}

# end_offsets prints "orders=N secret=M", read as admin.
end_offsets() { kafkajs offsets "$saslssl" 2>&1 || fail "admin reads end offsets"; }

CLIENTS="alice" "$here/gen-certs.sh" "$certs" 2>"$work/gen-certs.err" || fail "gen-certs.sh: $(cat "$work/gen-certs.err")"
expired_cert
echo "$name: certificates: CA, server, alice (CN=alice), and alice-expired (CN=alice, same CA, valid only on 2020-01-01)"

start
saslssl=$broker
saslplain=$(listener_addr INTERNAL)
mtls=$(listener_addr SSL)
[ -n "$saslplain" ] && [ -n "$mtls" ] || fail "no 'serving kafka listener' lines for INTERNAL and SSL"
echo "$name: strata serving SASL_SSL on $saslssl, SASL_PLAINTEXT on $saslplain, SSL (client certificate required) on $mtls"

kafkajs setup "$saslssl" || fail "kafkajs setup as admin"

echo "$name: alice round trips ($n keyed messages each) on the three listeners"
kafkajs_roundtrip scram "$saslssl"
kafkajs_roundtrip plain "$saslplain"
kafkajs_roundtrip mtls "$mtls"
kcat_roundtrip scram "$saslssl" "${kcat_scram[@]}" "${kcat_alice[@]}"
kcat_roundtrip plain "$saslplain" "${kcat_plain[@]}" "${kcat_alice[@]}"
kcat_roundtrip mtls "$mtls" "${kcat_mtls[@]}" "${kcat_alice_cert[@]}"

before=$(end_offsets)
if [ "$before" = "orders=$produced secret=0" ]; then
	ok "end offsets as admin after the round trips: $before, the $produced messages acknowledged"
else
	bad "end offsets as admin after the round trips: $before, want orders=$produced secret=0"
fi

echo "$name: clients that must be refused"
auth_failed='SASL authentication error: Authentication failed'
kcat_refused wrong-password "$auth_failed" "$saslssl" orders "${kcat_scram[@]}" -X sasl.username=alice -X sasl.password=wrong
kcat_refused unknown-user "$auth_failed" "$saslssl" orders "${kcat_scram[@]}" -X sasl.username=mallory -X sasl.password=alice-secret
kcat_refused wrong-password-plain "$auth_failed" "$saslplain" orders "${kcat_plain[@]}" -X sasl.username=alice -X sasl.password=wrong
kcat_refused expired-cert 'alert certificate expired' "$mtls" orders "${kcat_mtls[@]}" \
	-X "ssl.certificate.location=$certs/alice-expired.crt" -X "ssl.key.location=$certs/alice-expired.key"
# How librdkafka words a closed connection depends on whether the gateway's
# close arrived as a FIN or a reset.
kcat_refused plaintext-to-tls 'Disconnected while requesting ApiVersion|(Disconnected|reset by peer).*state APIVERSION_QUERY' "$saslssl" orders "${kcat_plain[@]}" "${kcat_alice[@]}"
kcat_refused tls-to-plaintext 'SSL handshake failed|(Disconnected|reset by peer).*state SSL_HANDSHAKE' "$saslplain" orders \
	-X security.protocol=SASL_SSL -X sasl.mechanism=PLAIN -X "ssl.ca.location=$certs/ca.crt" "${kcat_alice[@]}"
kcat_refused no-acl 'Topic authorization failed' "$saslplain" secret "${kcat_plain[@]}" "${kcat_alice[@]}"
# Not a producer: alice reads orders in a group outside her alice- prefix.
rc=0
t0=$EPOCHREALTIME
timeout 20 kcat -b "$saslplain" -G bob-group -e -q "${kcat_plain[@]}" "${kcat_alice[@]}" orders \
	>"$work/group.out" 2>"$work/group.err" || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q 'Group authorization failed' "$work/group.err" && [ ! -s "$work/group.out" ]; then
	ok "kcat group-outside-prefix: refused, exit $rc after $(ms_since "$t0") ms: $(sed 's/^% //' "$work/group.err" | tail -n 1)"
else
	bad "kcat group-outside-prefix: exit $rc, read $(wc -l <"$work/group.out") messages: $(tail -n 3 "$work/group.err")"
fi
kafkajs_refused wrong-password "$saslssl"
kafkajs_refused unknown-user "$saslssl"
kafkajs_refused wrong-password-plain "$saslplain"
kafkajs_refused expired-cert "$mtls"
kafkajs_refused plaintext-to-tls "$saslssl"
kafkajs_refused tls-to-plaintext "$saslplain"
kafkajs_refused no-acl "$saslplain"
kafkajs_refused group-outside-prefix "$saslplain"

after=$(end_offsets)
if [ "$after" = "$before" ]; then
	ok "no refused client wrote a record: end offsets as admin still $after"
else
	bad "end offsets moved from $before to $after while clients were refused"
fi

stop
echo "$name: $passed passed, $failed failed"
if [ "$failed" -gt 0 ]; then
	echo "--- strata log ---" >&2
	tail -n 50 "$work/strata.log" >&2 || true
	exit 1
fi
