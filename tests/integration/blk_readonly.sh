#!/usr/bin/env bash
# readonly=on: the guest sees a read-only disk; even a write it forces
# through (blockdev --setrw) fails with an I/O error, and the image is not
# touched. A second writable VM cannot open an image in use; a missing image
# is a usage error.
. "$(dirname "$0")/lib.sh"
require_kvm

IMG=$TEST_TMP/ro.img
head -c 8M /dev/urandom >"$IMG"
BEFORE=$(md5sum <"$IMG")

run_guest 'echo "ro: $(cat /sys/block/vda/ro)"
echo "head: $(head -c 4096 /dev/vda | md5sum)"
if dd if=/dev/zero of=/dev/vda bs=4k count=1 conv=fsync 2>/dev/null; then echo write1: ok; else echo write1: refused; fi
blockdev --setrw /dev/vda 2>/dev/null
if dd if=/dev/zero of=/dev/vda bs=4k count=1 oflag=direct 2>/dev/null; then echo write2: ok; else echo write2: refused; fi' \
	--disk "path=$IMG,readonly=on"
expect_rc 0
expect_out '^ro: 1'
expect_out "^head: $(head -c 4096 "$IMG" | md5sum)"
expect_out '^write1: refused'
expect_out '^write2: refused'
[[ $(md5sum <"$IMG") == "$BEFORE" ]] || fail "the read-only image changed"
pass "a read-only disk refuses writes, even forced ones; the image is unchanged"

# Two VMs, one writable image: the second is refused before it boots.
mkfifo "$TEST_TMP/in"
"$HUTCH" run --kernel "$KERNEL" --initrd "$INITRD" --cmdline "$CMDLINE_BASE" \
	--disk "path=$IMG" <"$TEST_TMP/in" >"$TEST_TMP/first" 2>&1 &
FIRST=$!
exec 7>"$TEST_TMP/in"
for ((i = 0; i < 600; i++)); do
	grep -q HUTCH-INIT-OK "$TEST_TMP/first" && break
	sleep 0.1
done
run_hutch --kernel "$KERNEL" --initrd "$INITRD" --disk "path=$IMG"
kill -TERM "$FIRST"
wait "$FIRST" || true
exec 7>&-
expect_rc 2
expect_out "hutch: $IMG: .*locked"
pass "a second VM cannot open an image another VM has open for writing"

run_hutch --kernel "$KERNEL" --disk "path=$TEST_TMP/missing.img"
expect_rc 2
expect_out "hutch: $TEST_TMP/missing.img: "
run_hutch --kernel "$KERNEL" --disk "readonly=on"
expect_rc 2
expect_out 'hutch: --disk: path=FILE is required'
pass "a missing image or path is a one-line usage error (exit 2)"
