#!/usr/bin/env bash
# virtio-rng: the guest's hw_random core picks it, and /dev/hwrng yields data.
. "$(dirname "$0")/lib.sh"
require_kvm
run_guest 'echo "rng: $(cat /sys/class/misc/hw_random/rng_current)"
head -c 65536 /dev/hwrng > /tmp/r
echo "bytes: $(wc -c < /tmp/r)"
echo "distinct: $(od -An -v -tx1 -w1 /tmp/r | sort -u | wc -l)"
echo "gzip: $(gzip -c /tmp/r | wc -c)"'
expect_rc 0
expect_out '^rng: virtio_rng\.0'
expect_out '^bytes: 65536'
expect_out '^distinct: 256'
# random data does not compress
[[ $(grep -a '^gzip: ' "$OUT" | awk '{print $2}' | tr -d '\r') -gt 65000 ]] || fail "/dev/hwrng data compresses"
pass "/dev/hwrng yields 64 KiB of incompressible data from virtio-rng"
