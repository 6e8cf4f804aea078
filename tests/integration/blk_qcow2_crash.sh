#!/usr/bin/env bash
# qcow2 crash safety: a guest writes files into ext4 on a fresh qcow2 disk
# and syncs each (FLUSH: data and metadata durable before it completes),
# while hutch is killed with SIGKILL at a random moment; several rounds, each
# continuing on the same image. After every kill `qemu-img check` finds no
# corruption (leaked clusters are allowed), and at the end every file whose
# sync had returned is intact.
. "$(dirname "$0")/lib.sh"
require_kvm
command -v qemu-img >/dev/null || fail "qemu-img is needed (apt-get install qemu-utils)"

IMG=$TEST_TMP/disk.qcow2
ROUNDS=${QCOW2_CRASH_ROUNDS:-4}
truncate -s 128M "$TEST_TMP/fs.raw"
mkfs.ext4 -q -F "$TEST_TMP/fs.raw"
# cluster size 4 KiB: many allocations, so kills land in the middle of them
qemu-img convert -O qcow2 -o cluster_size=4096 "$TEST_TMP/fs.raw" "$IMG"
: >"$TEST_TMP/synced"

for ((round = 1; round <= ROUNDS; round++)); do
	SCRIPT="mkdir -p /mnt && mount -t ext4 /dev/vda /mnt || exit 1
echo mounted
i=0
while :; do
	dd if=/dev/urandom of=/mnt/r${round}f\$i bs=4k count=\$((i % 37 + 1)) 2>/dev/null
	sync
	echo \"synced r${round}f\$i \$(md5sum < /mnt/r${round}f\$i)\"
	i=\$((i + 1))
done"
	: >"$OUT"
	"$HUTCH" run --kernel "$KERNEL" --initrd "$INITRD" --cmdline "$CMDLINE_BASE $(script_arg "$SCRIPT")" \
		--disk "path=$IMG,format=qcow2" </dev/null >"$OUT" 2>&1 &
	PID=$!
	target=$((RANDOM % 6 + 1))
	# (both waits well inside the test's limit: a stuck guest or hutch is
	# reported with hutch's threads, not killed silently)
	wait_for_out '^mounted' 100
	wait_for_out "^synced r${round}f$((target - 1)) " 100
	sleep "0.$((RANDOM % 10))"
	kill -KILL "$PID"
	wait "$PID" || true
	# complete lines only: the kill may cut the last one short
	tr -d '\r' <"$OUT" | grep -aE '^synced r[0-9]+f[0-9]+ [0-9a-f]{32}( |$)' >>"$TEST_TMP/synced"
	rc=0
	qemu-img check "$IMG" >"$TEST_TMP/check" 2>&1 || rc=$?
	# 0: clean, 3: leaked clusters only; 2: corruption
	((rc == 0 || rc == 3)) || { cat "$TEST_TMP/check"; fail "round $round: qemu-img check exit $rc"; }
	echo "round $round: killed after $(grep -ac '^synced ' "$OUT") syncs; qemu-img check exit $rc"
done

qemu-img convert -O raw "$IMG" "$TEST_TMP/check.raw"
check_synced "$TEST_TMP/check.raw" "$TEST_TMP/synced"
((SYNCED >= ROUNDS)) || fail "only $SYNCED synced files in $ROUNDS rounds"
pass "$ROUNDS SIGKILLs: qemu-img check never found corruption; all $SYNCED synced files intact"
