#!/usr/bin/env bash
# Unusable kernels and bad arguments: one clear line on stderr, exit 2, no crash.
. "$(dirname "$0")/lib.sh"
[[ -r $BZIMAGE ]] || fail "test guest missing in $GUEST_DIR"

expect_error() {
	local what=$1 pattern=$2
	shift 2
	run_hutch "$@"
	expect_rc 2
	expect_out "$pattern"
	[[ $(wc -l <"$OUT") == 1 ]] || fail "$what: expected one line, got: $(cat "$OUT")"
	pass "$what: $(cat "$OUT")"
}

head -c 1000000 /dev/urandom >"$TEST_TMP/garbage"
expect_error "garbage kernel" "^hutch: $TEST_TMP/garbage: not a Linux kernel" \
	--kernel "$TEST_TMP/garbage"
head -c 100000 "$BZIMAGE" >"$TEST_TMP/truncated"
expect_error "truncated bzImage" "^hutch: $TEST_TMP/truncated: kernel image is truncated" \
	--kernel "$TEST_TMP/truncated"
expect_error "missing kernel" "^hutch: $TEST_TMP/nope: No such file or directory" \
	--kernel "$TEST_TMP/nope"
expect_error "missing initrd" "^hutch: $TEST_TMP/nope: No such file or directory" \
	--kernel "$BZIMAGE" --initrd "$TEST_TMP/nope"
expect_error "bad --mem" "^hutch: --mem: 'lots'" --kernel "$BZIMAGE" --mem lots
expect_error "bad --cpus" "^hutch: --cpus: '0'" --kernel "$BZIMAGE" --cpus 0
expect_error "no --kernel" "^hutch: run: --kernel PATH is required"
