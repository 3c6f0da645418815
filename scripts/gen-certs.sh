#!/usr/bin/env bash
# Generates a private CA, a server certificate for Strata's SSL and SASL_SSL
# listeners (and --http-tls), and client certificates for mutual TLS, with
# openssl. For development and tests: a production cluster's certificates come
# from its own CA.
#
#   scripts/gen-certs.sh DIR [HOST...]   HOSTs (DNS names or IPs) go into the
#                                        server certificate besides localhost
#                                        and 127.0.0.1
#   CLIENTS="alice bob" scripts/gen-certs.sh DIR
#                                        also client certificates CN=alice, ...
#
# DIR gets ca.crt, ca.key, server.crt, server.key, and <client>.crt and
# <client>.key, plus truststore.p12 (the CA, password "changeit") for Java
# clients. Certificates are valid for DAYS days (default 365). Existing files
# are replaced.
set -euo pipefail

dir=${1:?usage: gen-certs.sh DIR [HOST...]}
shift
days=${DAYS:-365}
mkdir -p "$dir"
cd "$dir"

san="DNS:localhost,IP:127.0.0.1"
for h in "$@"; do
	if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then
		san+=",IP:$h"
	else
		san+=",DNS:$h"
	fi
done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
	-subj "/CN=Strata development CA" -keyout ca.key -out ca.crt \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

issue() { # name subject extensions
	local name=$1 subject=$2 ext=$3
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$subject" \
		-keyout "$name.key" -out "$name.csr" 2>/dev/null
	openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" \
		-out "$name.crt" -extfile <(printf '%s\n' "$ext") 2>/dev/null
	rm -f "$name.csr"
	chmod 600 "$name.key"
}

issue server "/CN=strata" "subjectAltName=$san
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth,clientAuth"
for c in ${CLIENTS:-}; do
	issue "$c" "/CN=$c" "keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
done
rm -f ca.srl
if command -v keytool >/dev/null; then
	rm -f truststore.p12
	keytool -importcert -noprompt -alias strata-ca -file ca.crt -keystore truststore.p12 \
		-storetype PKCS12 -storepass changeit >/dev/null 2>&1
fi
echo "gen-certs: CA, server (${san}) and clients (${CLIENTS:-none}) in $dir" >&2
