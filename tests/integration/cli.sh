#!/usr/bin/env bash
# The command line outside `run`: help that teaches, the version, usage errors.
. "$(dirname "$0")/lib.sh"

expect() { # expect WHAT RC PATTERN ARGS...
	local what=$1 rc=$2 pattern=$3
	shift 3
	set +e
	"$HUTCH" "$@" </dev/null >"$OUT" 2>&1
	RC=$?
	set -e
	expect_rc "$rc"
	expect_out "$pattern"
	pass "$what"
}

expect "--help" 0 'hutch run --kernel PATH' --help
expect "-h" 0 'hutch run --kernel PATH' -h
expect "run --help lists every option" 0 '--cpus N' run --help
grep -q -- '--initrd PATH' "$OUT" && grep -q -- '--mem SIZE' "$OUT" &&
	grep -q -- '--cmdline STR' "$OUT" && grep -q 'Exit status' "$OUT" ||
	fail "run --help misses options or exit codes"
expect "--version" 0 '^hutch [0-9]+\.[0-9]+\.[0-9]+$' --version
expect "no arguments: usage, exit 2" 2 'Usage:'
expect "unknown command" 2 "^hutch: unknown command 'frobnicate'" frobnicate
expect "unknown option" 2 'see `hutch run --help`' run --kernel x --bogus
