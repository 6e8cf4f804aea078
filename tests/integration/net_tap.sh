#!/usr/bin/env bash
# virtio-net on a TAP device (--net tap=IFNAME), all inside a network
# namespace this test creates: tap0 there has 192.168.77.1/24, hutch runs in
# the namespace, the guest configures 192.168.77.2/24 statically. Pings both
# ways, then 4 MiB over TCP each way (busybox nc in the guest), MD5-checked.
# Needs root (ip netns, ip tuntap) and /dev/net/tun.
# shellcheck source=tests/integration/net_lib.sh
. "$(dirname "$0")/net_lib.sh"
require_kvm
require_net_tools
((EUID == 0)) || fail "needs root (ip netns add, ip tuntap add)"
[[ -c /dev/net/tun ]] || fail "no /dev/net/tun (modprobe tun)"
command -v ip >/dev/null || fail "ip not found (apt-get install iproute2)"

NS=hutch-net-tap-$$
HOST_IP=192.168.77.1
GUEST_IP=192.168.77.2
ip netns add "$NS" || fail "ip netns add $NS failed"
NET_CLEANUP+=("ip netns del '$NS'")
HOST_RUN=(ip netns exec "$NS")
ip -n "$NS" link set lo up
ip -n "$NS" tuntap add dev tap0 mode tap || fail "ip tuntap add tap0 failed in $NS"
ip -n "$NS" addr add "$HOST_IP/24" dev tap0
ip -n "$NS" link set tap0 up

head -c 4M /dev/urandom >"$TEST_TMP/up"

# The guest: address, ping the host, serve /tmp/down on :5002, take /tmp/up
# on :5001, then stay up until the host connects to :5003.
start_guest "ip addr add $GUEST_IP/24 dev eth0 && ip link set eth0 up || exit 1
echo \"mac: \$(cat /sys/class/net/eth0/address)\"
i=0
until ping -c 1 -W 1 $HOST_IP >/dev/null 2>&1; do
  i=\$((i + 1)); [ \$i -lt 60 ] || { echo 'ping-host: no'; exit 1; }
done
echo 'ping-host: ok'
dd if=/dev/urandom of=/tmp/down bs=64k count=64 2>/dev/null
echo \"sum-down: \$(md5sum </tmp/down)\"
nc -l -p 5002 -e cat /tmp/down &
nc -l -p 5001 -e sh -c 'cat >/tmp/up' &
up=\$!
echo ready
wait \$up
echo \"sum-up: \$(md5sum </tmp/up)\"
timeout 300 nc -l -p 5003 -e true" --net tap=tap0

guest_wait '^(ready|HUTCH-SCRIPT-EXIT)' "$GUEST_TIMEOUT"
expect_out '^ready'
[[ $(guest_value mac) == 52:54:00:12:34:56 ]] || fail "eth0's MAC is '$(guest_value mac)', not 52:54:00:12:34:56"
[[ $(guest_value ping-host) == ok ]] || fail "the guest cannot ping $HOST_IP"
pass "the guest pings the host's tap0 ($HOST_IP)"

"${HOST_RUN[@]}" "$BUSYBOX" ping -c 3 -W 5 "$GUEST_IP" >"$TEST_TMP/ping" 2>&1 ||
	{ cat "$TEST_TMP/ping" >&2; fail "the host cannot ping the guest ($GUEST_IP)"; }
pass "the host pings the guest ($GUEST_IP)"

tcp_get "$GUEST_IP" 5002 "$TEST_TMP/down" || fail "guest -> host TCP transfer failed"
[[ $(md5 "$TEST_TMP/down") == "$(guest_value sum-down | cut -d' ' -f1)" ]] ||
	fail "guest -> host: got md5 $(md5 "$TEST_TMP/down") ($(stat -c %s "$TEST_TMP/down") bytes), the guest sent $(guest_value sum-down)"
pass "guest -> host: 4 MiB over TCP, MD5 matches"

tcp_put "$GUEST_IP" 5001 "$TEST_TMP/up" || fail "host -> guest TCP transfer failed"
guest_wait '^sum-up: ' 120
[[ $(guest_value sum-up | cut -d' ' -f1) == "$(md5 "$TEST_TMP/up")" ]] ||
	fail "host -> guest: the guest received md5 $(guest_value sum-up), sent $(md5 "$TEST_TMP/up")"
pass "host -> guest: 4 MiB over TCP, MD5 matches"

tcp_poke "$GUEST_IP" 5003 || fail "cannot reach the guest's port 5003 to let it power off"
finish_guest
expect_rc 0
expect_out '^HUTCH-SCRIPT-EXIT=0'
pass "the guest powered off cleanly"
