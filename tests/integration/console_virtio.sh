#!/usr/bin/env bash
# --console virtio: hvc0 is the guest's console on hutch's stdio. A getty
# shows its login prompt there; on a terminal, keys reach the shell on hvc0,
# which sees the terminal's size, and a resize (SIGWINCH) reaches it too.
. "$(dirname "$0")/lib.sh"
require_kvm
command -v script >/dev/null || fail "script(1) from bsdutils is needed"

# A login prompt on hvc0, then stop hutch with SIGTERM.
SCRIPT='hostname hutch-guest
echo "console: $(cat /proc/consoles | head -n1 | cut -d" " -f1)"
exec setsid getty 0 hvc0 vt100'
"$HUTCH" run --kernel "$KERNEL" --initrd "$INITRD" \
	--cmdline "$CMDLINE_BASE $(script_arg "$SCRIPT")" --console virtio \
	</dev/null >"$OUT" 2>&1 &
PID=$!
wait_for_out 'hutch-guest login: ' "$GUEST_TIMEOUT"
kill -TERM "$PID"
wait "$PID" || true
expect_out '^console: hvc0'
pass "a getty on hvc0 shows its login prompt on hutch's stdout"

# Interactive, in a pty of 100x30 that becomes 120x40 once $TEST_TMP/resize exists.
inner="stty cols 100 rows 30
(trap '' TTOU; while [ ! -e '$TEST_TMP/resize' ]; do sleep 0.2; done; stty cols 120 rows 40 </dev/tty) &
'$HUTCH' run --kernel '$KERNEL' --initrd '$INITRD' --cmdline '$CMDLINE_BASE' --console virtio
echo \"rc=\$?\""
mkfifo "$TEST_TMP/keys"
script -qefc "$inner" /dev/null <"$TEST_TMP/keys" >"$OUT" 2>&1 &
pid=$!
exec 7>"$TEST_TMP/keys"
wait_for_out '^HUTCH-INIT-OK' "$GUEST_TIMEOUT"
sleep 1
printf 'echo "size-$(tty | tr / -)-$(stty size | tr " " x)"\r' >&7
wait_for_out 'size--dev-hvc0-30x100' 120
touch "$TEST_TMP/resize"
sleep 2
printf 'echo "size-$(stty size | tr " " x)"\r' >&7
wait_for_out 'size-40x120' 120
printf '\001x' >&7
for ((i = 0; i < 300; i++)); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
exec 7>&-
wait "$pid" || true
expect_out 'rc=0'
pass "keys reach the shell on hvc0, which gets the terminal's size and its changes"
