# Shared by the end-to-end scripts: sourced, not run. The caller sets $name
# (for messages), $bin (the strata binary) and $work (a scratch dir), and may
# set $serve_args (extra `strata serve` flags, an array).

pid=""

e2e_cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap e2e_cleanup EXIT

fail() {
	echo "$name: FAIL: $*" >&2
	echo "--- strata log ---" >&2
	tail -n 50 "$work/strata.log" >&2 || true
	exit 1
}

# start runs strata on free loopback ports and sets $pid, $broker and $http
# from the addresses it logs once it serves.
start() {
	: >"$work/strata.log"
	"$bin" serve --listeners PLAINTEXT://127.0.0.1:0 --http-listen 127.0.0.1:0 --schema-registry-listen 127.0.0.1:0 --embedded-nats-listen '' --data-dir "$work/data" \
		--log-level info "${serve_args[@]}" >"$work/strata.log" 2>&1 &
	pid=$!
	broker=""
	for _ in $(seq 1 300); do
		broker=$(sed -n 's/.*msg="serving kafka" listen=\([0-9.:]*\).*/\1/p' "$work/strata.log" | head -n1)
		http=$(sed -n 's/.*msg="serving kafka" .* http=\([0-9.:]*\).*/\1/p' "$work/strata.log" | head -n1)
		[ -n "$broker" ] && return 0
		kill -0 "$pid" 2>/dev/null || fail "strata exited during start"
		sleep 0.1
	done
	fail "strata did not start serving within 30s"
}

# stop sends SIGTERM and requires a clean exit.
stop() {
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	pid=""
	[ "$rc" -eq 0 ] || fail "strata exited with $rc after SIGTERM"
}
