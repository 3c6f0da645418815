#!/usr/bin/env bash
# terraform-check.sh: the checks of terraform/, run by `make test`.
#
#   1. terraform fmt -check -recursive over terraform/
#   2. terraform init -backend=false and terraform validate in every module
#      and example (and the MinIO fixture, terraform/test/minio)
#   3. terraform test in every module and example: *.tftest.hcl files with
#      mock_provider "aws" (no network, no credentials)
#   4. the gateways' broker id derivation (strata-gateway.sh node-id) on
#      sample addresses: distinct ids, all in the broker id range
#   5. modules/bucket applied for real against a MinIO server this script
#      starts on a free 127.0.0.1 port (terraform/test/minio: apply, assert,
#      destroy), then a check that the bucket is gone
#
# No Terraform registry is reachable here, so providers come only from a
# local filesystem mirror: terraform/cli.tfrc with the mirror filled in, in a
# temporary CLI configuration. The mirror is the first of these that holds
# hashicorp/aws 5.x for this platform:
#   $STRATA_TF_PROVIDER_MIRROR; the filesystem_mirror paths of the current
#   CLI configuration ($TF_CLI_CONFIG_FILE, else ~/.terraformrc); Terraform's
#   implied local mirrors (~/.terraform.d/plugins,
#   $XDG_DATA_HOME/terraform/plugins, <each of $XDG_DATA_DIRS>/terraform/plugins);
#   else a shallow search of the file system for a <host>/hashicorp/aws
#   directory holding it.
# Without terraform (>= 1.7 for mock_provider) or the provider, the script
# says so and exits 0. Without the MinIO binary that make test-deps installs
# the MinIO step is skipped, except with CI=true, where the script builds it
# (scripts/install-minio.sh) and a MinIO that cannot be had fails the run.
#
# Everything runs on a copy of terraform/ in a temp dir, so no .terraform
# directory or lock file appears in the repository; providers are linked
# from a plugin cache under scripts/cache-dir.sh's directory.
#
# Environment: TERRAFORM (default terraform), STRATA_TF_PROVIDER_MIRROR,
# STRATA_MINIO_BIN, TF_CHECK_JOBS (parallel directories, default 2).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
src="$repo/terraform"
tf=${TERRAFORM:-terraform}
jobs=${TF_CHECK_JOBS:-2}
start=$SECONDS

say() { echo "terraform-check: $*"; }
skip() {
	say "SKIPPED: $*"
	exit 0
}

command -v "$tf" >/dev/null 2>&1 || skip "no terraform binary (set TERRAFORM or put terraform >= 1.7 on PATH)"
tfv=$(CHECKPOINT_DISABLE=1 "$tf" version -json 2>/dev/null | sed -n 's/.*"terraform_version": *"\([0-9.]*\)".*/\1/p')
platform=$(CHECKPOINT_DISABLE=1 "$tf" version -json 2>/dev/null | sed -n 's/.*"platform": *"\([a-z0-9_]*\)".*/\1/p')
[[ -n $tfv && -n $platform ]] || skip "cannot read the version of $tf"
IFS=. read -r tf_major tf_minor _ <<<"$tfv"
if ((tf_major < 1 || (tf_major == 1 && tf_minor < 7))); then
	skip "terraform $tfv is older than 1.7 (mock_provider)"
fi

# has_aws DIR: DIR is a mirror (unpacked or packed layout) with hashicorp/aws
# 5.x for this platform.
has_aws() {
	local d f
	for d in "$1"/*/hashicorp/aws; do
		[[ -d $d ]] || continue
		for f in "$d"/5.*/"$platform"/terraform-provider-aws* "$d"/terraform-provider-aws_5.*_"$platform".zip; do
			[[ -e $f ]] && return 0
		done
	done
	return 1
}

find_mirror() {
	local cands=() cfg d
	[[ -n ${STRATA_TF_PROVIDER_MIRROR:-} ]] && cands+=("$STRATA_TF_PROVIDER_MIRROR")
	for cfg in "${TF_CLI_CONFIG_FILE:-}" "$HOME/.terraformrc"; do
		[[ -n $cfg && -r $cfg ]] || continue
		while IFS= read -r d; do cands+=("$d"); done < <(
			awk '/filesystem_mirror/{m=1} m && /path *=/{gsub(/.*path *= *"|".*/, ""); print; m=0}' "$cfg")
	done
	cands+=("$HOME/.terraform.d/plugins" "${XDG_DATA_HOME:-$HOME/.local/share}/terraform/plugins")
	local IFS=:
	for d in ${XDG_DATA_DIRS:-/usr/local/share:/usr/share}; do cands+=("$d/terraform/plugins"); done
	unset IFS
	for d in "${cands[@]}"; do
		if has_aws "$d"; then
			echo "$d"
			return 0
		fi
	done
	# Last resort: a mirror somewhere shallow that no configuration names.
	while IFS= read -r d; do
		d=$(dirname "$(dirname "$(dirname "$d")")")
		if has_aws "$d"; then
			echo "$d"
			return 0
		fi
	done < <(find / -maxdepth 5 \( -path /proc -o -path /sys -o -path /dev -o -path "$repo" \) -prune \
		-o -type d -path '*/hashicorp/aws' -print 2>/dev/null)
	return 1
}

mirror=$(find_mirror) || skip "no local mirror of the hashicorp/aws 5.x provider for $platform (set STRATA_TF_PROVIDER_MIRROR to a directory holding <registry host>/hashicorp/aws/5.x/$platform)"

work=$(mktemp -d -t strata-tf-check.XXXXXX)
minio_pid=""
cleanup() {
	if [[ -n $minio_pid ]]; then
		kill "$minio_pid" 2>/dev/null || true
		wait "$minio_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The repository's CLI configuration with the mirror filled in.
sed "s#@PROVIDER_MIRROR@#$mirror#" "$src/cli.tfrc" >"$work/cli.tfrc"
export TF_CLI_CONFIG_FILE="$work/cli.tfrc"
export TF_PLUGIN_CACHE_DIR="$("$here/cache-dir.sh")/terraform/plugin-cache"
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
unset TF_DATA_DIR TF_WORKSPACE
mkdir -p "$TF_PLUGIN_CACHE_DIR"

# A copy without any working state a developer may have left in the tree.
tar -C "$repo" --exclude=.terraform --exclude=.terraform.lock.hcl --exclude='*.tfstate*' -cf - terraform |
	tar -C "$work" -xf -
tree="$work/terraform"
say "terraform $tfv ($platform), provider mirror $mirror, plugin cache $TF_PLUGIN_CACHE_DIR"

passed=0
failed=0
failures=()
record() { # record NAME STATUS
	if [[ $2 == 0 ]]; then
		passed=$((passed + 1))
		say "ok   $1"
	else
		failed=$((failed + 1))
		failures+=("$1")
		say "FAIL $1"
	fi
}

# 1. Formatting, of the repository's files themselves.
set +e
fmt_out=$("$tf" fmt -check -recursive -diff "$src" 2>&1)
fmt_rc=$?
set -e
[[ $fmt_rc == 0 ]] || echo "$fmt_out"
record "fmt -check -recursive" "$fmt_rc"

# 5. The bucket module for real, on MinIO: started now, so that its test
# (terraform/test/minio) runs alongside the other directories.
minio_version=$(sed -n 's/^const MinIOVersion = "\(.*\)"$/\1/p' "$repo/internal/testenv/minio.go")
minio_bin=""
minio_port=""
# The binary make test's test-deps installs: $STRATA_MINIO_BIN, else the
# cache path of scripts/install-minio.sh. Building it takes minutes, so only
# CI builds it here when missing; elsewhere the check is skipped.
if [[ -n ${STRATA_MINIO_BIN:-} ]]; then
	[[ -x $STRATA_MINIO_BIN ]] && minio_bin=$STRATA_MINIO_BIN
elif [[ -n $minio_version ]]; then
	cached="$("$here/cache-dir.sh")/minio/$minio_version/minio"
	if [[ -x $cached ]]; then
		minio_bin=$cached
	elif [[ ${CI:-} == true ]]; then
		minio_bin=$("$here/install-minio.sh" "$minio_version" 2>"$work/minio-install.log") || minio_bin=""
	fi
fi
free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		(echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || {
			echo "$p"
			return 0
		}
	done
	return 1
}
minio_key=strata-tf-check
minio_secret=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
if [[ -n $minio_bin ]]; then
	for _ in 1 2 3; do
		port=$(free_port)
		console=$(free_port)
		rm -rf "$work/minio-data"
		MINIO_ROOT_USER=$minio_key MINIO_ROOT_PASSWORD=$minio_secret MINIO_BROWSER=off \
			"$minio_bin" server --quiet --address "127.0.0.1:$port" --console-address "127.0.0.1:$console" \
			"$work/minio-data" >"$work/minio.log" 2>&1 &
		minio_pid=$!
		for _ in $(seq 1 150); do
			if curl -fs "http://127.0.0.1:$port/minio/health/live" >/dev/null 2>&1; then
				minio_port=$port
				break 2
			fi
			kill -0 "$minio_pid" 2>/dev/null || break
			sleep 0.2
		done
		kill "$minio_pid" 2>/dev/null || true
		wait "$minio_pid" 2>/dev/null || true
		minio_pid=""
	done
	[[ -n $minio_port ]] || cat "$work/minio.log"
else
	cat "$work/minio-install.log" 2>/dev/null || true
fi
if [[ -n $minio_port ]]; then
	say "MinIO on 127.0.0.1:$minio_port"
elif [[ ${CI:-} == true ]]; then
	record "MinIO for the bucket module's apply test (not installed or did not start)" 1
else
	say "SKIPPED: bucket module on MinIO: MinIO is not installed (scripts/install-minio.sh, or make test-deps) or did not start"
fi

# 2-3. init, validate and test each directory; directories run in parallel.
dirs=()
# The MinIO apply is the slowest, so it starts first.
for d in "$tree"/test/minio "$tree"/modules/* "$tree"/examples/*; do
	[[ -d $d && " ${dirs[*]} " != *" ${d#"$tree"/} "* ]] && dirs+=("${d#"$tree"/}")
done

# init_dir DIR: terraform init, serially: parallel inits race to fill the
# plugin cache. The first one's lock file is copied to the others, so that
# they trust the cache and only link from it.
init_dir() {
	local rel=$1 d="$tree/$1" log="$work/log.${1//\//_}"
	if [[ $rel != "${dirs[0]}" && -f $tree/${dirs[0]}/.terraform.lock.hcl ]]; then
		cp "$tree/${dirs[0]}/.terraform.lock.hcl" "$d/"
	fi
	if "$tf" -chdir="$d" init -backend=false -no-color >"$log.init" 2>&1; then
		echo "init=0" >"$log"
	else
		{
			cat "$log.init"
			echo "init=1"
		} >"$log"
	fi
}

# check_dir DIR: validate and test DIR, appending to its log.
check_dir() {
	local rel=$1 d="$tree/$1" log="$work/log.${1//\//_}"
	grep -qx 'init=0' "$log" || return 0
	{
		"$tf" -chdir="$d" validate -no-color || {
			echo "validate=1"
			return
		}
		echo "validate=0"
		if [[ $rel == test/minio ]]; then
			# Applies modules/bucket on MinIO, asserts, destroys.
			[[ -n $minio_port ]] || return
			if "$tf" -chdir="$d" test -no-color -var "s3_endpoint=http://127.0.0.1:$minio_port" \
				-var "access_key=$minio_key" -var "secret_key=$minio_secret"; then
				echo "test=0"
			else
				echo "test=1"
			fi
		elif compgen -G "$d/tests/*.tftest.hcl" >/dev/null; then
			if "$tf" -chdir="$d" test -no-color; then echo "test=0"; else echo "test=1"; fi
		fi
	} >>"$log" 2>&1
}

for rel in "${dirs[@]}"; do
	init_dir "$rel"
done

# At most $jobs at once. Waits name the jobs: MinIO is a child too.
running=()
for rel in "${dirs[@]}"; do
	while ((${#running[@]} >= jobs)); do
		wait -n "${running[@]}" || true
		alive=()
		for p in "${running[@]}"; do
			if kill -0 "$p" 2>/dev/null; then alive+=("$p"); fi
		done
		running=("${alive[@]}")
	done
	check_dir "$rel" &
	running+=("$!")
done
for p in "${running[@]}"; do
	wait "$p" || true
done

for rel in "${dirs[@]}"; do
	log="$work/log.${rel//\//_}"
	for step in init validate test; do
		status=$(sed -n "s/^$step=\([01]\)\$/\1/p" "$log")
		[[ -n $status ]] || continue
		[[ $status == 0 ]] || sed '/^\(init\|validate\|test\)=[01]$/d' "$log"
		if [[ $step == test && $status == 0 ]]; then
			say "     $rel: $(grep -E '^(Success|Failure)!' "$log" | tail -n 1)"
		fi
		record "$step $rel" "$status"
	done
done

if [[ -n $minio_port ]] && grep -q '^test=' "$work/log.test_minio"; then
	# MinIO keeps a bucket as a directory of its data dir: gone after destroy.
	gone=0
	[[ -d $work/minio-data/.minio.sys && ! -e $work/minio-data/strata-tf-check ]] || gone=1
	record "bucket destroyed on MinIO" "$gone"
fi

# 4. Broker ids from private addresses: distinct for distinct addresses in
# one VPC (three zones' subnets, both ends of a /16) and in 0..2^31-1.
node_ids_ok=0
gw="$tree/modules/gateways/files/strata-gateway.sh"
declare -A seen=()
for ip in 10.0.0.4 10.0.0.5 10.0.16.4 10.0.32.4 10.0.255.254 10.1.0.4 172.31.0.4 172.31.16.4 172.31.32.4 192.168.0.4 192.168.1.4; do
	id=$(bash "$gw" node-id "$ip") || {
		node_ids_ok=1
		break
	}
	if [[ -n ${seen[$id]:-} ]] || ((id < 0 || id > 2147483647)); then
		say "node id $id of $ip collides or is out of range"
		node_ids_ok=1
	fi
	seen[$id]=$ip
done
[[ $(bash "$gw" node-id 10.0.1.23) == 167772439 ]] || node_ids_ok=1
if bash "$gw" node-id 10.0.1.256 >/dev/null 2>&1; then node_ids_ok=1; fi
record "gateway node ids from private addresses" "$node_ids_ok"

say "finished in $((SECONDS - start))s"
if ((failed > 0)); then
	say "failed: ${failures[*]}"
fi
echo "terraform-check: $passed passed, $failed failed"
((failed == 0))
