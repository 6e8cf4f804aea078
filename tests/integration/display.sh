#!/usr/bin/env bash
# Headless display (--display none, the default without a graphical
# session): the guest's virtio_gpu driver gives it /dev/fb0; it draws the
# test pattern there and `hutch ctl screendump` yields a PNG with exactly
# that pattern. `send-key` (a combination, then text) reaches the guest's
# virtio keyboard as the right key events. Bad requests get an error and the
# VM keeps running; --display off has no GPU.
. "$(dirname "$0")/lib.sh"
require_kvm
. "$(dirname "$0")/api_lib.sh"
HERE=$(dirname "$0")
IMAGE="python3 $HERE/image.py"

INITRD=$(initrd_with_tool "$HERE/display_guest.sh" hutch-display)
# shift-a, then "hi\n": 5 presses and 5 releases, each followed by a SYN_REPORT
start_guest 'hutch-display draw && hutch-display keys 20; sleep 600' --display none,size=640x400
wait_for_out '^PATTERN-DRAWN' "$GUEST_TIMEOUT"
expect_out '^PATTERN-DRAWN 640x400'
wait_for_out '^KEYS-READY' 120
sleep 1 # fbdev flushes what was written within a few ticks

ctl screendump "$TEST_TMP/screen.png" || fail "screendump failed"
$IMAGE png-pattern "$TEST_TMP/screen.png" 640 400 || fail "the screendump is not the pattern"
if command -v pngcheck >/dev/null; then
	pngcheck -q "$TEST_TMP/screen.png" || fail "pngcheck rejects the screendump"
fi
pass "screendump: a PNG with exactly the guest's pattern"

# A relative path is the client's, made absolute by hutch ctl.
(cd "$TEST_TMP" && "$HUTCH" ctl "$SOCK" screendump rel.png) || fail "screendump rel.png failed"
[[ -s $TEST_TMP/rel.png ]] || fail "screendump rel.png wrote nothing in ctl's directory"

# Bad requests: an error, and the VM goes on.
msg=$(ctl send-key no-such-key 2>&1) && fail "send-key no-such-key succeeded"
[[ $msg == *"unknown key"* ]] || fail "send-key no-such-key: $msg"
msg=$(ctl --json screendump file=relative.png 2>&1) || true
[[ $msg == *'"error"'*absolute* ]] || fail "screendump file=relative.png: $msg"
msg=$(ctl screendump /nonexistent-dir/x.png 2>&1) && fail "screendump into a missing directory"
[[ $msg == *nonexistent-dir* ]] || fail "screendump /nonexistent-dir/x.png: $msg"
[[ $(ctl status) == running,* ]] || fail "status after bad requests: $(ctl status)"
pass "bad send-key and screendump requests: errors, the VM runs on"

ctl send-key shift-a || fail "send-key shift-a failed"
ctl send-key text=$'hi\n' || fail "send-key text failed"
wait_for_out '^KEYS-END' 120
sed -n '/^KEYS-BEGIN/,/^KEYS-END/p' "$OUT" | tr -d '\r' | sed '1d;$d' >"$TEST_TMP/keys.b64"
got=$($IMAGE keys "$TEST_TMP/keys.b64" | tr '\n' ' ')
# KEY_LEFTSHIFT 42, KEY_A 30, KEY_H 35, KEY_I 23, KEY_ENTER 28
want="42 1 30 1 30 0 42 0 35 1 35 0 23 1 23 0 28 1 28 0 "
[[ $got == "$want" ]] || fail "key events: got '$got', expected '$want'"
pass "send-key: shift-a and text reach the guest's keyboard in order"

ctl quit || fail "quit failed"
wait_guest 60
expect_rc 0

# --display off: no GPU, so nothing to dump
start_guest 'ls /dev/fb0 2>/dev/null || echo NO-FB; sleep 600' --display off
wait_for_out '^NO-FB' "$GUEST_TIMEOUT"
msg=$(ctl screendump "$TEST_TMP/off.png" 2>&1) && fail "screendump worked with --display off"
[[ $msg == *"no display"* ]] || fail "screendump with --display off: $msg"
ctl quit
wait_guest 60
pass "--display off: no framebuffer in the guest, screendump says why"
