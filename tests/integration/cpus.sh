#!/usr/bin/env bash
# --cpus 2: the guest sees both CPUs (ACPI MADT, per-vCPU APIC IDs) and runs on both.
. "$(dirname "$0")/lib.sh"
require_kvm
run_guest 'echo nproc=$(nproc); grep -c ^processor /proc/cpuinfo | sed "s/^/cpuinfo=/"
grep -m2 "^apicid" /proc/cpuinfo | tr -d "\t " | tr "\n" " "; echo' --cpus 2
expect_out '^nproc=2'
expect_out '^cpuinfo=2'
expect_out 'apicid:0 apicid:1'
expect_rc 0
pass "--cpus 2 gives nproc 2 with APIC IDs 0 and 1"
