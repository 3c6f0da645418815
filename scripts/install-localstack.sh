#!/usr/bin/env bash
# install-localstack.sh
#
# Installs LocalStack's S3 service, the second S3 implementation the object
# store tests run against (internal/testenv, testenv.StartLocalStack), into a
# cache directory outside the repository, and prints the path of the
# launcher to run. Idempotent: it installs only when the launcher is absent,
# so `make test` can call it every time.
#
# LocalStack is the localstack-core package from PyPI, run on the host (no
# Docker) by its runtime entry point, python -m localstack.runtime.main.
# Only the "base-runtime" extra is installed, plus moto-ext, which the S3
# provider imports, and service-identity, which its HTTP server (Twisted)
# imports: the "runtime" extra brings every other service and twice the
# size. Every dependency is pinned below, because the package's own ranges
# admit releases that break it: cbor2 6 has no cbor2._decoder, and
# pyOpenSSL 26 has no X509.add_extensions, which the self-signed
# certificate needs at start (pyOpenSSL 24.3 in turn needs cryptography
# below 45). localstack-core 2026.x (and 4.14) also needs Python 3.12 or
# newer: it uses PEP 695 generics although it declares >=3.10.
#
# Where, the same rule as testenv.LocalStackBinary:
#   $STRATA_LOCALSTACK_BIN, if set (not installed: only checked), else
#   <cache>/localstack/VERSION/localstack (with the virtual environment
#   beside it in venv/), where <cache> is $STRATA_CACHE_DIR, else
#   $XDG_CACHE_HOME/strata, else $HOME/.cache/strata.
#
# Python: $STRATA_PYTHON if set, else the first of python3.13, python3.12
# and python3 on PATH that is 3.12 or newer, else the newest such version
# pyenv has installed.
set -euo pipefail

# Keep in step with testenv.LocalStackVersion (a test checks).
version=2026.3.0

if [[ -n "${STRATA_LOCALSTACK_BIN:-}" ]]; then
	if [[ ! -x "$STRATA_LOCALSTACK_BIN" ]]; then
		echo "install-localstack: STRATA_LOCALSTACK_BIN=$STRATA_LOCALSTACK_BIN is not an executable file" >&2
		exit 1
	fi
	echo "$STRATA_LOCALSTACK_BIN"
	exit 0
fi

dir="$("$(dirname "$0")/cache-dir.sh")/localstack/$version"
launcher="$dir/localstack"
if [[ -x "$launcher" ]]; then
	echo "$launcher"
	exit 0
fi

# new_enough PYTHON succeeds if PYTHON runs and is 3.12 or newer.
new_enough() {
	"$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1
}

find_python() {
	if [[ -n "${STRATA_PYTHON:-}" ]]; then
		new_enough "$STRATA_PYTHON" && { echo "$STRATA_PYTHON"; return; }
		echo "install-localstack: STRATA_PYTHON=$STRATA_PYTHON is not Python 3.12 or newer" >&2
		return 1
	fi
	local py
	for py in python3.13 python3.12 python3; do
		if command -v "$py" >/dev/null 2>&1 && new_enough "$py"; then
			command -v "$py"
			return
		fi
	done
	if command -v pyenv >/dev/null 2>&1; then
		local root v
		root="$(pyenv root)"
		for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.[0-9]+\.[0-9]+$' | sort -rV); do
			py="$root/versions/$v/bin/python3"
			if new_enough "$py"; then
				echo "$py"
				return
			fi
		done
	fi
	echo "install-localstack: LocalStack $version needs Python 3.12 or newer; none found (set STRATA_PYTHON)" >&2
	return 1
}

python="$(find_python)"
echo "install-localstack: installing localstack-core $version with $("$python" --version 2>&1)" >&2
# A half-built venv from an interrupted run is discarded: the launcher,
# written last, is what marks an installation complete.
rm -rf "$dir/venv"
mkdir -p "$dir"
"$python" -m venv "$dir/venv"
requirements="$(mktemp)"
trap 'rm -f "$requirements"' EXIT
cat >"$requirements" <<EOF
localstack-core[base-runtime]==$version
moto-ext==5.1.54
service-identity==24.2.0
annotated-types==0.8.0
asn1crypto==1.5.1
attrs==26.1.0
awscrt==0.38.1
boto3==1.42.72
botocore==1.42.72
cachetools==8.0.3
cbor2==5.9.0
certifi==2026.10.19.post1
cffi==2.1.1
charset-normalizer==3.5.3
click==8.5.1
constantly==23.10.4
cryptography==44.0.3
dill==0.3.6
dnslib==0.9.26
dnspython==2.9.2
docker==7.2.0
h11==0.16.0
h2==4.4.1
hpack==4.2.0
Hypercorn==0.18.0
hyperframe==6.1.0
hyperlink==21.0.0
idna==3.21
Incremental==24.11.0
isodate==0.7.2
Jinja2==3.1.6
jmespath==1.1.0
jsonpatch==1.48
jsonpointer==3.12
jsonschema==4.26.0
jsonschema-path==0.4.6
jsonschema-specifications==2025.9.1
lazy-object-proxy==1.13.0
localstack-twisted==26.4.0
markdown-it-py==4.3.0
MarkupSafe==3.0.4
mdurl==0.1.2
more-itertools==11.2.1
openapi-core==0.23.1
openapi-schema-validator==0.8.1
openapi-spec-validator==0.8.5
packaging==26.4
pathable==0.5.0
plux==1.16.0
priority==1.3.0
psutil==7.2.2
pyasn1==0.6.5
pyasn1_modules==0.4.2
pycparser==3.12
pydantic==2.14.4
pydantic-settings==2.16.3
pydantic_core==2.50.5
Pygments==2.21.0
pyOpenSSL==24.3.0
python-dateutil==2.9.0.post0
python-dotenv==1.2.4
PyYAML==6.0.4
readerwriterlock==1.0.10
referencing==0.37.0
requests==2.34.2
requests-aws4auth==1.4.0
responses==0.26.3
rfc3339-validator==0.1.4
rich==15.0.0
rolo==0.8.9
rpds-py==2026.9.1
s3transfer==0.16.1
semver==3.2.0
six==1.17.0
typing-inspection==0.4.5
typing_extensions==4.16.0
urllib3==2.8.0
Werkzeug==3.1.9
wsproto==1.3.2
xmltodict==1.0.4
zope.interface==8.7
EOF
"$dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2

# The service catalog index, built here as LocalStack's image builds it:
# without it, every start spends about ten seconds building it. LocalStack
# looks for it in its static libraries, $FILESYSTEM_ROOT/usr/lib/localstack.
rm -rf "$dir/static-libs" "$dir/.build"
mkdir -p "$dir/.build/usr/lib/localstack"
env -i PATH="$PATH" HOME="$dir/.build" OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$dir/.build" \
	"$dir/venv/bin/python" -m localstack.aws.spec >&2
mv "$dir/.build/usr/lib/localstack" "$dir/static-libs"
rm -rf "$dir/.build"

# The launcher links the static libraries into the FILESYSTEM_ROOT it is
# given and execs the runtime, so the process a test starts is the server
# itself. Written to a temp file and renamed, so it appears whole.
tmp="$(mktemp "$dir/.localstack.XXXXXX")"
cat >"$tmp" <<EOF
#!/bin/sh
# LocalStack $version (localstack-core), installed by scripts/install-localstack.sh.
if [ -n "\${FILESYSTEM_ROOT:-}" ] && [ ! -e "\$FILESYSTEM_ROOT/usr/lib/localstack" ]; then
	mkdir -p "\$FILESYSTEM_ROOT/usr/lib" &&
		ln -s "$dir/static-libs" "\$FILESYSTEM_ROOT/usr/lib/localstack" || exit 1
fi
exec "$dir/venv/bin/python" -m localstack.runtime.main "\$@"
EOF
chmod 755 "$tmp"
mv "$tmp" "$launcher"
echo "$launcher"
