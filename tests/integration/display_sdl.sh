#!/usr/bin/env bash
# The SDL window, under Xvfb: with $DISPLAY set hutch opens a window titled
# with --name by default; xdotool types into it and the guest's keyboard
# sees the keys; an X screenshot (xwd) of the window shows the pattern the
# guest drew on its framebuffer. Closing the window presses the power button
# (a clean shutdown); closing it again stops a guest that ignored it.
#
# HUTCH_SCREENSHOT=FILE.png also saves a screenshot of the window showing
# the guest's text console (the README's picture).
. "$(dirname "$0")/lib.sh"
require_kvm
. "$(dirname "$0")/api_lib.sh"
HERE=$(dirname "$0")
IMAGE="python3 $HERE/image.py"
for tool in Xvfb xdotool xwd; do
	command -v $tool >/dev/null || fail "$tool is needed (apt-get install xvfb xdotool x11-apps)"
done

# Every X client runs under a timeout: none of them may hang the test.
x() {
	timeout -k 5 30 "$@"
}

XPID=
stop_x() {
	[[ -z $XPID ]] || kill "$XPID" 2>/dev/null || true
	api_cleanup
}
trap stop_x EXIT

# A free display number, then the X server (no window manager: xdotool
# focuses windows itself).
for ((n = 90; n < 110; n++)); do
	[[ -e /tmp/.X11-unix/X$n || -e /tmp/.X$n-lock ]] || break
done
Xvfb ":$n" -screen 0 1400x900x24 -nolisten tcp >"$TEST_TMP/xvfb.log" 2>&1 &
XPID=$!
export DISPLAY=":$n"
for ((i = 0; i < 100; i++)); do
	x xdotool getmouselocation >/dev/null 2>&1 && break
	sleep 0.1
done
x xdotool getmouselocation >/dev/null 2>&1 || fail "Xvfb did not start: $(cat "$TEST_TMP/xvfb.log")"

window() {
	x xdotool search --name "^$1\$" 2>/dev/null | head -n1
}

INITRD=$(initrd_with_tool "$HERE/display_guest.sh" hutch-display)
# "sdl" typed: 3 presses and 3 releases, each with its SYN_REPORT
start_guest 'hutch-display draw && hutch-display keys 12; sleep 600' --name hutch-sdl-test
wait_for_out '^PATTERN-DRAWN' "$GUEST_TIMEOUT"
wait_for_out '^KEYS-READY' 120
WID=$(window hutch-sdl-test)
[[ -n $WID ]] || fail "no window titled hutch-sdl-test"
pass "a window titled with --name"

sleep 2 # the guest's fbdev flush, then the window's redraw
x xwd -id "$WID" -silent >"$TEST_TMP/window.xwd" || fail "xwd failed"
$IMAGE xwd-pattern "$TEST_TMP/window.xwd" || fail "the window does not show the pattern"
pass "the window shows the guest's framebuffer"

# (no window manager: xdotool sets the focus itself; not --sync, which
# waits without a limit for a focus change that may already have happened)
for ((i = 0; i < 50; i++)); do
	x xdotool windowfocus "$WID" 2>/dev/null || true
	[[ $(x xdotool getwindowfocus 2>/dev/null) == "$WID" ]] && break
	sleep 0.2
done
[[ $(x xdotool getwindowfocus 2>/dev/null) == "$WID" ]] || fail "cannot focus the window"
x xdotool type --delay 50 sdl || fail "xdotool type failed"
wait_for_out '^KEYS-END' 120
sed -n '/^KEYS-BEGIN/,/^KEYS-END/p' "$OUT" | tr -d '\r' | sed '1d;$d' >"$TEST_TMP/keys.b64"
got=$($IMAGE keys "$TEST_TMP/keys.b64" | tr '\n' ' ')
want="31 1 31 0 32 1 32 0 38 1 38 0 " # KEY_S, KEY_D, KEY_L
[[ $got == "$want" ]] || fail "key events: got '$got', expected '$want'"
pass "keys typed into the window reach the guest"

# Closing the window (a window manager's close button: WM_DELETE_WINDOW)
# presses the ACPI power button, which the guest's acpid turns into a clean
# poweroff.
x python3 "$HERE/xclose.py" "$WID" || fail "cannot close the window"
wait_guest 120
expect_rc 0
expect_out '^hutch: window closed: asking the guest to shut down'
expect_out '^HUTCH-POWER-BUTTON'
pass "closing the window shuts the guest down (exit 0)"

# A guest that ignores the power button: the second close stops the VM.
start_guest 'killall acpid; echo ACPID-GONE; sleep 600' --name hutch-sdl-close
wait_for_out '^ACPID-GONE' "$GUEST_TIMEOUT"
WID=$(window hutch-sdl-close)
[[ -n $WID ]] || fail "no window titled hutch-sdl-close"
x python3 "$HERE/xclose.py" "$WID" || fail "cannot close the window"
wait_for_out '^hutch: window closed: asking the guest to shut down' 30
sleep 2
kill -0 "$PID" 2>/dev/null || fail "hutch stopped at the first close of a guest that ignores the power button"
x python3 "$HERE/xclose.py" "$WID" || fail "cannot close the window again"
wait_guest 60
expect_rc 0
pass "a second close stops a guest that ignores the power button"

# --display sdl without an X server: one line, exit 2
set +e
msg=$(DISPLAY=:999 timeout 120 "$HUTCH" run --kernel "$KERNEL" --display sdl </dev/null 2>&1)
rc=$?
set -e
[[ $rc == 2 ]] || fail "sdl without X: exit status $rc: $msg"
# (libwayland may add a line of its own)
[[ $(grep '^hutch:' <<<"$msg") == "hutch: --display sdl: "* ]] || fail "sdl without X: $msg"
pass "--display sdl without a display: one error line"

if [[ -n ${HUTCH_SCREENSHOT:-} ]]; then
	# the console on tty1: boot messages, then the script's output, on the screen
	GUEST_CMDLINE="console=ttyS0 console=tty1 panic=-1" start_guest 'sleep 3; clear
echo "hutch guest: $(uname -sr), $(nproc) vCPU, $(free -m | awk "/Mem:/{print \$2}") MiB"
ls -l /dev/fb0 /dev/dri/card0 /dev/input/event*
cat /sys/class/graphics/fb0/virtual_size
sleep 600' --name hutch
	sleep 40 # init's output goes to tty1 now, so there is nothing to wait for on ttyS0
	x xwd -id "$(window hutch)" -silent >"$TEST_TMP/shot.xwd"
	$IMAGE xwd-to-png "$TEST_TMP/shot.xwd" "$HUTCH_SCREENSHOT"
	ctl quit
	wait_guest 60
	echo "screenshot: $HUTCH_SCREENSHOT"
fi
