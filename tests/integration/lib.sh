# Shared helpers for integration tests: boot the test guest under hutch on a
# real /dev/kvm and assert on its output and hutch's exit code.
# Sourced by each test; meson passes HUTCH (the binary) and GUEST_DIR.
set -euo pipefail

: "${HUTCH:?HUTCH must point at build/hutch}"
: "${GUEST_DIR:?GUEST_DIR must point at the built test guest}"

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/hutch-test.XXXXXX")
trap 'rm -rf "$TEST_TMP"' EXIT
OUT=$TEST_TMP/out
RC=
KERNEL=$GUEST_DIR/vmlinux           # PVH: no decompression, faster under emulation
BZIMAGE=$GUEST_DIR/vmlinuz
INITRD=$GUEST_DIR/initramfs.cpio.gz
CMDLINE_BASE="console=ttyS0 quiet panic=-1"
GUEST_TIMEOUT=${GUEST_TIMEOUT:-240}
# meson stops a test after 300 s (meson.build) without a word; waits give up
# before that, so that a stuck guest fails the test with hutch's output
TEST_DEADLINE=$((SECONDS + ${TEST_TIME_LIMIT:-270}))

fail() {
	local p
	echo "FAIL: $*" >&2
	if [[ -s $OUT ]]; then
		echo "--- last lines of hutch's output ---" >&2
		tail -n 40 "$OUT" >&2
	fi
	# a hutch still running (started by a test, with or without timeout(1))
	for p in ${PID:-} ${GUEST_PID:-} ${HUTCH_PID:-}; do
		echo "$p"
		pgrep -P "$p" || true
	done | while read -r p; do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == hutch ]] || continue
		echo "--- hutch's threads (name, state, wait channel, system call) ---" >&2
		threads_of "$p" >&2
	done
	exit 1
}

pass() {
	echo "PASS: $*"
}

# Integration tests never skip: without a working /dev/kvm they fail.
require_kvm() {
	[[ -r /dev/kvm && -w /dev/kvm ]] ||
		fail "no usable /dev/kvm: run the suite through tests/kvmhost/run"
	[[ -r $KERNEL && -r $BZIMAGE && -r $INITRD ]] ||
		fail "test guest missing in $GUEST_DIR: run 'ninja -C build guest'"
}

script_arg() {
	printf 'hutch.script=%s' "$(printf '%s\n' "$1" | base64 -w0)"
}

# run_guest SCRIPT [HUTCH RUN OPTIONS...]: boots the test guest, whose init
# runs SCRIPT and powers off. Output goes to $OUT, the exit code to $RC.
run_guest() {
	local script=$1
	shift
	run_hutch --kernel "$KERNEL" --initrd "$INITRD" \
		--cmdline "$CMDLINE_BASE $(script_arg "$script")" "$@"
}

# run_hutch ARGS...: hutch run ARGS with stdin from /dev/null and a timeout.
run_hutch() {
	set +e
	timeout -k 10 "$GUEST_TIMEOUT" "$HUTCH" run "$@" </dev/null >"$OUT" 2>&1
	RC=$?
	set -e
	[[ $RC != 124 && $RC != 137 ]] || fail "hutch timed out after ${GUEST_TIMEOUT}s"
}

expect_rc() {
	[[ $RC == "$1" ]] || fail "hutch exited with $RC, expected $1"
}

expect_out() {
	grep -qaE -- "$1" "$OUT" || fail "output lacks /$1/"
}

# out_within PATTERN SECONDS: waits until the output shows PATTERN; 1 if it
# does not within SECONDS (or by the test's deadline).
out_within() {
	local i
	for ((i = 0; i < $2 * 10 && SECONDS < TEST_DEADLINE; i++)); do
		grep -qaE -- "$1" "$OUT" 2>/dev/null && return 0
		sleep 0.1
	done
	grep -qaE -- "$1" "$OUT" 2>/dev/null
}

# wait_for_out PATTERN SECONDS: out_within, or the test fails.
wait_for_out() {
	out_within "$1" "$2" && return 0
	((SECONDS < TEST_DEADLINE)) || fail "no /$1/ in the output by the test's time limit"
	fail "no /$1/ in the output within $2 s"
}

# threads_of PID: each thread of a running hutch (name, state, kernel wait
# channel, system call), for the message of a test that found it stuck.
threads_of() {
	local t
	for t in /proc/"$1"/task/*; do
		printf '  %s %s %s syscall %s\n' "$(cat "$t/comm" 2>/dev/null)" \
			"$(awk '{print $3}' "$t/stat" 2>/dev/null)" "$(cat "$t/wchan" 2>/dev/null)" \
			"$(cut -d' ' -f1 "$t/syscall" 2>/dev/null)"
	done
}

# initrd_with_tool FILE NAME: prints the path of a copy of the test guest's
# initramfs with FILE added as /bin/NAME (a second cpio archive appended,
# which Linux unpacks over the first), for guest-side helpers too long for
# the kernel command line (2 KiB, hutch.script included).
initrd_with_tool() {
	local root=$TEST_TMP/tool-root out=$TEST_TMP/initrd-$2.cpio.gz
	mkdir -p "$root/bin"
	install -m 0755 "$1" "$root/bin/$2"
	cp "$INITRD" "$out"
	(cd "$root" && find bin | cpio -o -H newc --quiet | gzip -1) >>"$out"
	echo "$out"
}

# check_synced IMG LIST: repairs the ext4 file system in the raw image IMG
# (e2fsck -fy: journal replay) and checks every "synced NAME MD5" line of the
# file LIST against the file NAME in it. Sets SYNCED (how many) and FSCK_RC.
check_synced() {
	local name sum got
	FSCK_RC=0
	e2fsck -fy "$1" >"$TEST_TMP/fsck" 2>&1 || FSCK_RC=$?
	((FSCK_RC < 4)) || { cat "$TEST_TMP/fsck"; fail "e2fsck could not repair $1 (rc $FSCK_RC)"; }
	SYNCED=0
	while read -r _ name sum _; do
		got=$(debugfs -R "cat /$name" "$1" 2>/dev/null | md5sum | awk '{print $1}')
		[[ $got == "$sum" ]] || fail "$name was synced with md5 $sum but reads $got"
		SYNCED=$((SYNCED + 1))
	done <"$2"
}
