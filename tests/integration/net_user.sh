#!/usr/bin/env bash
# virtio-net with user-mode networking (--net user, libslirp), all on this
# machine: the guest gets 10.0.2.15/24, gateway 10.0.2.2 and DNS 10.0.2.3 by
# DHCP (busybox udhcpc + guests/udhcpc.script) and fetches a file from an
# HTTP server on the host's 127.0.0.1 through 10.0.2.2; the host fetches a
# file from the guest's httpd through hostfwd. Two NICs each get a lease and
# their MACs; with restrict=on DHCP works but the host is out of reach.
# shellcheck source=tests/integration/net_lib.sh
. "$(dirname "$0")/net_lib.sh"
require_kvm
require_net_tools
require_loopback

WWW=$TEST_TMP/www
mkdir -p "$WWW"
head -c 4M /dev/urandom >"$WWW/data"
start_http_server "$WWW"
FWD_PORT=$(free_port)
DHCP='udhcpc -n -q -t 10 -T 1'

# --- 1. DHCP, guest -> host over HTTP, host -> guest through hostfwd ---------
start_guest "$DHCP -i eth0 >/tmp/u 2>&1 || { tail -n 3 /tmp/u; exit 1; }
echo \"addr: \$(ip -4 -o addr show dev eth0 | awk '{print \$4}')\"
echo \"gw: \$(ip route show default | awk '{print \$3; exit}')\"
echo \"dns: \$(awk '/^nameserver/ {print \$2; exit}' /etc/resolv.conf)\"
echo \"mac: \$(cat /sys/class/net/eth0/address)\"
wget -q -O /tmp/data http://10.0.2.2:$HTTP_PORT/data && echo \"sum-get: \$(md5sum </tmp/data)\"
mkdir -p /srv && dd if=/dev/urandom of=/srv/blob bs=64k count=48 2>/dev/null
echo \"sum-serve: \$(md5sum </srv/blob)\"
httpd -p 8080 -h /srv && echo serving
i=0
until wget -q -O /dev/null http://10.0.2.2:$HTTP_PORT/done 2>/dev/null; do
  i=\$((i + 1)); [ \$i -lt 300 ] || { echo no-done; exit 1; }; sleep 1
done" --net "user,hostfwd=tcp::$FWD_PORT-:8080" --cpus 2

guest_wait '^(serving|HUTCH-SCRIPT-EXIT)' "$GUEST_TIMEOUT"
expect_out '^serving'
[[ $(guest_value addr) == 10.0.2.15/24 ]] || fail "eth0 has '$(guest_value addr)', not 10.0.2.15/24 (DHCP)"
[[ $(guest_value gw) == 10.0.2.2 ]] || fail "default route via '$(guest_value gw)', not 10.0.2.2"
[[ $(guest_value dns) == 10.0.2.3 ]] || fail "resolv.conf names '$(guest_value dns)', not 10.0.2.3"
[[ $(guest_value mac) == 52:54:00:12:34:56 ]] || fail "eth0's MAC is '$(guest_value mac)', not the default 52:54:00:12:34:56"
pass "DHCP: eth0 got 10.0.2.15/24, gateway 10.0.2.2, DNS 10.0.2.3 (MAC 52:54:00:12:34:56)"

want=$(md5 "$WWW/data")
[[ $(guest_value sum-get | cut -d' ' -f1) == "$want" ]] ||
	fail "wget of http://10.0.2.2:$HTTP_PORT/data: guest md5 '$(guest_value sum-get)', host file $want"
pass "the guest fetched 4 MiB from the host's 127.0.0.1 HTTP server through 10.0.2.2"

http_get "http://127.0.0.1:$FWD_PORT/blob" "$TEST_TMP/blob" ||
	fail "cannot fetch the guest's file through hostfwd 127.0.0.1:$FWD_PORT"
[[ $(md5 "$TEST_TMP/blob") == "$(guest_value sum-serve | cut -d' ' -f1)" ]] ||
	fail "through hostfwd: got md5 $(md5 "$TEST_TMP/blob") ($(stat -c %s "$TEST_TMP/blob") bytes), the guest serves $(guest_value sum-serve)"
pass "the host fetched 3 MiB from the guest's httpd through hostfwd tcp:127.0.0.1:$FWD_PORT-:8080"

touch "$WWW/done"
finish_guest
expect_rc 0
expect_out '^HUTCH-SCRIPT-EXIT=0'

# --- 2. two NICs, each with its own slirp and a lease ---------------------------
MAC1=52:54:00:ab:cd:01
run_guest "for n in eth0 eth1; do
  $DHCP -i \$n >/tmp/u 2>&1 || tail -n 3 /tmp/u
  echo \"nic-\$n: \$(cat /sys/class/net/\$n/address) \$(ip -4 -o addr show dev \$n | awk '{print \$4}')\"
done" --net user --net "user,mac=$MAC1"
expect_rc 0
expect_out '^HUTCH-SCRIPT-EXIT=0'
[[ $(guest_value nic-eth0) == "52:54:00:12:34:56 10.0.2.15/24" ]] ||
	fail "eth0: '$(guest_value nic-eth0)', expected the default MAC and 10.0.2.15/24"
[[ $(guest_value nic-eth1) == "$MAC1 10.0.2.15/24" ]] ||
	fail "eth1: '$(guest_value nic-eth1)', expected $MAC1 and 10.0.2.15/24"
pass "two NICs: eth0 (52:54:00:12:34:56) and eth1 ($MAC1) both got a DHCP lease"

# --- 3. restrict=on: DHCP yes, the host no ----------------------------------------
requests=$(grep -c 'GET /data' "$TEST_TMP/http.log" || true)
run_guest "$DHCP -i eth0 >/tmp/u 2>&1 || { tail -n 3 /tmp/u; exit 1; }
echo \"addr: \$(ip -4 -o addr show dev eth0 | awk '{print \$4}')\"
if timeout 8 wget -q -O /tmp/data http://10.0.2.2:$HTTP_PORT/data; then echo reach: yes; else echo reach: no; fi" \
	--net user,restrict=on
expect_rc 0
expect_out '^HUTCH-SCRIPT-EXIT=0'
[[ $(guest_value addr) == 10.0.2.15/24 ]] || fail "restrict=on: eth0 has '$(guest_value addr)', not 10.0.2.15/24"
[[ $(guest_value reach) == no ]] || fail "restrict=on: the guest reached the host's HTTP server"
[[ $(grep -c 'GET /data' "$TEST_TMP/http.log" || true) == "$requests" ]] ||
	fail "restrict=on: a request reached the host's HTTP server"
pass "restrict=on: the guest got its DHCP lease but could not reach 10.0.2.2:$HTTP_PORT"
