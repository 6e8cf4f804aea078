# Helpers for tests that drive a guest through its control socket: the guest
# runs in the background, serving $SOCK, while the test talks to it.
# Sourced after lib.sh.

SOCK=$TEST_TMP/api.sock
PID=

# start_guest SCRIPT [HUTCH RUN OPTIONS...]: boots the test guest in the
# background, serving $SOCK; output goes to $OUT. The kernel command line is
# $GUEST_CMDLINE (default $CMDLINE_BASE) and the script.
start_guest() {
	local script=$1
	shift
	rm -f "$SOCK"
	: >"$OUT" # now, not in the background job: no stale output from a previous boot
	timeout -k 10 "$GUEST_TIMEOUT" "$HUTCH" run --kernel "$KERNEL" --initrd "$INITRD" \
		--cmdline "${GUEST_CMDLINE:-$CMDLINE_BASE} $(script_arg "$script")" --api-sock "$SOCK" "$@" \
		</dev/null >"$OUT" 2>&1 &
	PID=$!
}

# wait_guest SECONDS: waits for hutch to exit; its exit code goes to $RC.
wait_guest() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$PID" 2>/dev/null && fail "hutch still runs $1 s later"
	set +e
	wait "$PID"
	RC=$?
	set -e
	PID=
}

ctl() {
	"$HUTCH" ctl "$SOCK" "$@"
}

api_cleanup() {
	[[ -z $PID ]] || kill -KILL "$PID" 2>/dev/null || true
	rm -rf "$TEST_TMP"
}
trap api_cleanup EXIT
