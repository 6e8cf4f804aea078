# Helpers for the virtio-net tests (net_*.sh), on top of lib.sh: a guest
# running in the background while the host talks to it, host-side TCP and
# HTTP clients with retries (python3), and an HTTP server on the host.
# Sourced by each net test instead of lib.sh. Not a test itself.
# shellcheck shell=bash source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PY=$(command -v /usr/bin/python3 || command -v python3 || true)
BUSYBOX=${HUTCH_BUSYBOX:-/bin/busybox}
GUEST_PID=   # the background hutch (start_guest)
HTTP_PID=    # the host's HTTP server (start_http_server)
HTTP_PORT=
NET_CLEANUP=() # extra commands for net_cleanup, run in order (eval'd)
# Prefix for host-side commands, e.g. (ip netns exec NS): where they run.
HOST_RUN=()

# Stop what the test started, undo its setup, remove TEST_TMP.
# shellcheck disable=SC2317 # invoked by trap
net_cleanup() {
	local c i
	[[ -z $HTTP_PID ]] || kill "$HTTP_PID" 2>/dev/null || true
	if [[ -n $GUEST_PID ]]; then
		# timeout(1) passes SIGTERM on to hutch, which then quits.
		kill -TERM "$GUEST_PID" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$GUEST_PID" 2>/dev/null || break
			sleep 0.1
		done
		pkill -KILL -P "$GUEST_PID" 2>/dev/null || true
		kill -KILL "$GUEST_PID" 2>/dev/null || true
		wait "$GUEST_PID" 2>/dev/null || true
	fi
	[[ -z $HTTP_PID ]] || wait "$HTTP_PID" 2>/dev/null || true
	for c in "${NET_CLEANUP[@]}"; do
		eval "$c" || true
	done
	rm -rf "$TEST_TMP"
}
trap net_cleanup EXIT

require_net_tools() {
	[[ -n $PY ]] || fail "python3 not found (the host side of the net tests needs it)"
	[[ -x $BUSYBOX ]] || fail "$BUSYBOX not found (apt-get install busybox-static)"
}

# The host's loopback must be up: slirp's gateway 10.0.2.2 is 127.0.0.1.
# (A fresh network namespace, such as a bare host VM's, starts with lo down.)
require_loopback() {
	if ! "${HOST_RUN[@]}" ip -o link show lo | grep -q '[<,]UP[,>]'; then
		"${HOST_RUN[@]}" ip link set lo up ||
			fail "the loopback interface is down and cannot be brought up"
	fi
}

# start_guest SCRIPT [HUTCH RUN OPTIONS...]: like run_guest, but hutch runs
# in the background (under ${HOST_RUN[@]}); finish_guest waits for it.
start_guest() {
	local script=$1
	shift
	: >"$OUT"
	"${HOST_RUN[@]}" timeout -k 10 "$GUEST_TIMEOUT" "$HUTCH" run \
		--kernel "$KERNEL" --initrd "$INITRD" \
		--cmdline "$CMDLINE_BASE $(script_arg "$script")" "$@" \
		</dev/null >"$OUT" 2>&1 &
	GUEST_PID=$!
}

# finish_guest: wait for the background hutch; its exit code goes to RC.
finish_guest() {
	set +e
	wait "$GUEST_PID"
	RC=$?
	set -e
	GUEST_PID=
	[[ $RC != 124 && $RC != 137 ]] || fail "hutch timed out after ${GUEST_TIMEOUT}s"
}

# guest_wait PATTERN SECONDS: wait until the output shows PATTERN; fail at
# once if hutch ends first.
guest_wait() {
	local i
	for ((i = 0; i < $2 * 10 && SECONDS < TEST_DEADLINE; i++)); do
		grep -qaE -- "$1" "$OUT" 2>/dev/null && return 0
		if ! kill -0 "$GUEST_PID" 2>/dev/null; then
			grep -qaE -- "$1" "$OUT" 2>/dev/null && return 0
			finish_guest
			fail "hutch exited ($RC) before the output showed /$1/"
		fi
		sleep 0.1
	done
	fail "no /$1/ in the output within $2 s"
}

# guest_value KEY: the rest of the guest's first "KEY: ..." line, without
# the console's \r.
guest_value() {
	tr -d '\r' <"$OUT" | sed -n "s/^$1: //p" | head -n1
}

# md5 FILE: the file's MD5 (hex only).
md5() { md5sum <"$1" | cut -d' ' -f1; }

# Host-side TCP client (python3), retrying while the peer is not listening:
#   tcp_get HOST PORT FILE   connect, read everything into FILE; a connection
#                            closed without data counts as refused (slirp's
#                            hostfwd accepts before the guest does)
#   tcp_put HOST PORT FILE   connect, send FILE, shut down the sending side,
#                            read until the peer closes
#   tcp_poke HOST PORT       connect, close (a signal to the guest)
TCP_PY='
import socket, sys, time
mode, host, port, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
err = "no attempt"
for attempt in range(int(sys.argv[5])):
    if attempt:
        time.sleep(0.5)
    try:
        s = socket.create_connection((host, port), timeout=5)
    except OSError as e:
        err = e
        continue
    s.settimeout(120)
    with s:
        if mode == "get":
            data = bytearray()
            while True:
                b = s.recv(1 << 16)
                if not b:
                    break
                data += b
            if not data:
                err = "connection closed without data"
                continue
            with open(path, "wb") as f:
                f.write(data)
        elif mode == "put":
            with open(path, "rb") as f:
                s.sendall(f.read())
            s.shutdown(socket.SHUT_WR)
            while s.recv(1 << 16):
                pass
    sys.exit(0)
sys.exit("%s %s:%d: %s" % (mode, host, port, err))
'
tcp_get() { "${HOST_RUN[@]}" "$PY" -c "$TCP_PY" get "$1" "$2" "$3" "${TCP_TRIES:-60}"; }
tcp_put() { "${HOST_RUN[@]}" "$PY" -c "$TCP_PY" put "$1" "$2" "$3" "${TCP_TRIES:-60}"; }
tcp_poke() { "${HOST_RUN[@]}" "$PY" -c "$TCP_PY" poke "$1" "$2" - "${TCP_TRIES:-60}"; }

# http_get URL FILE: fetch URL into FILE, retrying (60 x 0.5 s) on errors.
http_get() {
	"${HOST_RUN[@]}" "$PY" -c '
import sys, time, urllib.request
err = None
for attempt in range(60):
    if attempt:
        time.sleep(0.5)
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=120) as r:
            data = r.read()
    except Exception as e:
        err = e
        continue
    with open(sys.argv[2], "wb") as f:
        f.write(data)
    sys.exit(0)
sys.exit("GET %s: %s" % (sys.argv[1], err))
' "$1" "$2"
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
	"${HOST_RUN[@]}" "$PY" -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# start_http_server DIR [ADDR]: python3 -m http.server for DIR on ADDR
# (default 127.0.0.1), on a port the kernel picks; sets HTTP_PORT, HTTP_PID.
# Its request log goes to $TEST_TMP/http.log.
start_http_server() {
	local dir=$1 addr=${2:-127.0.0.1} i
	: >"$TEST_TMP/http.log"
	"${HOST_RUN[@]}" "$PY" -u -m http.server --bind "$addr" --directory "$dir" 0 \
		>"$TEST_TMP/http.log" 2>&1 &
	HTTP_PID=$!
	for ((i = 0; i < 100; i++)); do
		HTTP_PORT=$(sed -n 's/^Serving HTTP on .* port \([0-9]*\) .*/\1/p' "$TEST_TMP/http.log" || true)
		[[ -z $HTTP_PORT ]] || return 0
		kill -0 "$HTTP_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$TEST_TMP/http.log" >&2
	fail "the host's HTTP server did not start"
}
