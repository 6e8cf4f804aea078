#!/usr/bin/env bash
# On a terminal hutch switches it to raw mode (keys reach the guest, Ctrl-a x
# quits) and restores the exact settings afterwards.
. "$(dirname "$0")/lib.sh"
require_kvm
command -v script >/dev/null || fail "script(1) from bsdutils is needed"

# Inside a fresh pty (script -c): record the settings, run hutch, record again.
inner="stty -g >'$TEST_TMP/before'; '$HUTCH' run --kernel '$KERNEL' --initrd '$INITRD' \
--cmdline '$CMDLINE_BASE'; echo \"rc=\$?\"; stty -g >'$TEST_TMP/after'"
mkfifo "$TEST_TMP/keys"
script -qefc "$inner" /dev/null <"$TEST_TMP/keys" >"$OUT" 2>&1 &
pid=$!
exec 7>"$TEST_TMP/keys"
wait_for_out '^HUTCH-INIT-OK' "$GUEST_TIMEOUT"
sleep 1
printf 'echo raw-$((20+22))\r' >&7
wait_for_out 'raw-42' 120
printf '\001x' >&7
for ((i = 0; i < 300; i++)); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
exec 7>&-
wait "$pid" || true
expect_out 'hutch: quit'
expect_out 'rc=0'
[[ -s $TEST_TMP/before && -s $TEST_TMP/after ]] || fail "no terminal settings recorded"
cmp -s "$TEST_TMP/before" "$TEST_TMP/after" ||
	fail "terminal not restored: $(cat "$TEST_TMP/before") -> $(cat "$TEST_TMP/after")"
pass "raw terminal for the guest, Ctrl-a x quits, settings restored"
