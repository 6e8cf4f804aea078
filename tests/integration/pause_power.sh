#!/usr/bin/env bash
# The control socket (hutch run --api-sock, hutch ctl) drives a real guest:
# pause stops it (a counter it prints every 0.2 s stands still) and resume
# lets it go on, status says which; powerdown presses the ACPI power button,
# which the guest's acpid turns into a clean poweroff (exit 0); quit ends
# hutch with 0, even while the guest is paused.
. "$(dirname "$0")/lib.sh"
require_kvm

. "$(dirname "$0")/api_lib.sh"

ticks() {
	grep -ac '^tick ' "$OUT" || true
}

# Ready once acpid holds the power button's input device open.
COUNTER='[ -e /sys/bus/platform/drivers/acpi-ged/ACPI0013:00 ] && echo ged-bound
[ -e /sys/bus/acpi/drivers/button/PNP0C0C:00 ] && echo button-bound
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	pid=$(pidof acpid) && ls -l /proc/$pid/fd | grep -q /dev/input/event && break
	sleep 0.5
done
echo acpid=${pid:-none}
i=0
while :; do echo "tick $i"; i=$((i + 1)); sleep 0.2; done'

start_guest "$COUNTER"
wait_for_out '^tick 3' "$GUEST_TIMEOUT"
expect_out '^ged-bound'
expect_out '^button-bound'
grep -qaE '^acpid=[0-9]+' "$OUT" || fail "acpid is not listening to the power button"
[[ $(ctl status) == running,* ]] || fail "status before pause: $(ctl status)"

ctl pause || fail "pause failed"
ctl pause || fail "a second pause failed" # idempotent
[[ $(ctl status) == paused,* ]] || fail "status after pause: $(ctl status)"
sleep 0.5 # output already on its way
before=$(ticks)
sleep 2
after=$(ticks)
((after == before)) || fail "the guest printed $((after - before)) ticks while paused"
pass "pause: no ticks for 2 s, status paused"

ctl resume || fail "resume failed"
[[ $(ctl status) == running,* ]] || fail "status after resume: $(ctl status)"
wait_for_out "^tick $((after + 3))" 60
pass "resume: ticks go on ($after, then $((after + 3)))"

ctl powerdown || fail "powerdown failed"
wait_guest 120
expect_out '^HUTCH-POWER-BUTTON'
expect_rc 0
pass "powerdown: the guest powered off (exit 0)"

# quit while paused: the parked vCPUs wake up and stop
start_guest "$COUNTER"
wait_for_out '^tick 1' "$GUEST_TIMEOUT"
ctl pause || fail "pause failed"
ctl quit || fail "quit failed"
wait_guest 30
expect_rc 0
[[ ! -e $SOCK ]] || fail "the socket is left behind"
pass "quit while paused: exit 0"
