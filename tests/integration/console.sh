#!/usr/bin/env bash
# The serial console carries input to the guest's shell; Ctrl-a x quits
# hutch with exit 0; SIGTERM shuts it down cleanly.
. "$(dirname "$0")/lib.sh"
require_kvm

# start_interactive: hutch with the guest's interactive shell, stdin from a FIFO.
start_interactive() {
	rm -f "$TEST_TMP/in"
	mkfifo "$TEST_TMP/in"
	"$HUTCH" run --kernel "$KERNEL" --initrd "$INITRD" --cmdline "$CMDLINE_BASE" \
		<"$TEST_TMP/in" >"$OUT" 2>&1 &
	HUTCH_PID=$!
	exec 7>"$TEST_TMP/in"
	wait_for_out '^HUTCH-INIT-OK' "$GUEST_TIMEOUT"
}

finish() {
	local i
	for ((i = 0; i < 300; i++)); do
		kill -0 "$HUTCH_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$HUTCH_PID" 2>/dev/null && { kill -9 "$HUTCH_PID"; fail "hutch did not exit"; }
	set +e
	wait "$HUTCH_PID"
	RC=$?
	set -e
	exec 7>&-
}

start_interactive
sleep 1
printf 'echo typed-$((40+2))\n' >&7
wait_for_out '^typed-42' 120
printf '\001x' >&7
finish
expect_out 'hutch: quit'
expect_rc 0
pass "console input reaches the guest shell; Ctrl-a x quits with exit 0"

start_interactive
kill -TERM "$HUTCH_PID"
finish
expect_out 'hutch: terminating on signal 15'
expect_rc 0
pass "SIGTERM stops hutch cleanly with exit 0"
