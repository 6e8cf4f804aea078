#!/usr/bin/env python3
"""Helper of tests/bench/boot: time one VMM boot, and summarize many.

  bootprobe.py boot --vmm NAME --kernel-label L --run I --mem-mib M
                    --timeout S --grace S --results FILE --logdir DIR -- CMD...
      Spawns CMD (a VMM whose stdout is the guest's serial console), watches
      its stdout for the init marker and, the moment it appears, samples
        - the time since just before the spawn (time.monotonic),
        - the VM-exit counters of KVM's per-VM debugfs directory
          /sys/kernel/debug/kvm/<PID>-<FD>/ (exits, io_exits, ...),
        - /proc/PID/smaps: resident memory without the guest RAM mapping(s).
      Then lets the VMM end by itself (the guest powers off) for up to
      --grace seconds, and kills its process group otherwise. Appends one
      JSON record to FILE and prints one line. Exit status 0 if the marker
      was seen, 1 if not (timeout, VMM died, ...).

  bootprobe.py summary FILE
      Prints the per-run numbers and the Markdown table of medians.

Guest RAM rule (see README.md): among the process's read-write anonymous
mappings (no file, or shared-anonymous "/dev/zero (deleted)", "/memfd:...",
"[anon:...]"), take the largest ones, biggest first, until their sizes add
up to the guest memory size. QEMU maps its RAM as one private anonymous
mapping of that size; hutch as one shared anonymous mapping per RAM region
(one region up to 3 GiB).
"""

import argparse
import json
import os
import selectors
import signal
import statistics
import subprocess
import sys
import time

MARKER = b"HUTCH-INIT-OK"
DEBUGFS_KVM = "/sys/kernel/debug/kvm"
EXIT_COUNTERS = ("exits", "io_exits", "mmio_exits", "halt_exits")


# ---------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------

def kvm_exits(pid):
    """Sum the exit counters over the VMs of process pid (normally one).

    Returns (dict or None, number of VM directories, note)."""
    try:
        names = os.listdir(DEBUGFS_KVM)
    except OSError as e:
        return None, 0, "no %s (%s)" % (DEBUGFS_KVM, e.strerror)
    dirs = [n for n in names if n.startswith("%d-" % pid)]
    if not dirs:
        return None, 0, "no %s/%d-* directory" % (DEBUGFS_KVM, pid)
    total = dict.fromkeys(EXIT_COUNTERS, 0)
    for d in dirs:
        for c in EXIT_COUNTERS:
            with open(os.path.join(DEBUGFS_KVM, d, c)) as f:
                total[c] += int(f.read())
    return total, len(dirs), ""


def is_anonymous(name):
    return (name == "" or name.startswith("[anon:") or name.startswith("/memfd:")
            or name == "/dev/zero (deleted)")


def smaps(pid):
    """List of mappings: dict(start, size, rss, perms, name), sizes in KiB."""
    maps = []
    cur = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            first = line.split(None, 1)[0]
            if not first.endswith(":"):   # a mapping header: range perms ...
                parts = line.split(None, 5)
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                cur = {"start": lo, "size": (hi - lo) // 1024, "rss": 0,
                       "perms": parts[1],
                       "name": parts[5].strip() if len(parts) > 5 else ""}
                maps.append(cur)
            elif first == "Rss:" and cur is not None:
                cur["rss"] = int(line.split()[1])
    return maps


def memory(pid, guest_kib):
    """Resident KiB in total, in guest RAM and without guest RAM."""
    maps = smaps(pid)
    if not maps:
        raise OSError("no mappings in /proc/%d/smaps (VMM already gone?)" % pid)
    total = sum(m["rss"] for m in maps)
    cands = sorted((m for m in maps
                    if m["perms"].startswith("rw") and is_anonymous(m["name"])),
                   key=lambda m: m["size"], reverse=True)
    ram, covered = [], 0
    for m in cands:
        if covered >= guest_kib:
            break
        ram.append(m)
        covered += m["size"]
    ram_rss = sum(m["rss"] for m in ram)
    return {
        "rss_total_kib": total,
        "rss_ram_kib": ram_rss,
        "rss_excl_kib": total - ram_rss,
        "ram_maps": ["%#x+%dMiB %s %s" % (m["start"], m["size"] // 1024, m["perms"],
                                           m["name"] or "[anon]") for m in ram],
        "ram_covered": covered >= guest_kib,
    }


# ---------------------------------------------------------------------------
# One boot
# ---------------------------------------------------------------------------

def kill_group(p):
    """End the VMM's process group (it runs in its own session)."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            return
        try:
            p.wait(wait)
            return
        except subprocess.TimeoutExpired:
            pass


def tail_lines(data, n=15):
    text = data.decode("utf-8", "replace").replace("\r", "")
    return "\n".join(text.splitlines()[-n:])


def boot(a):
    rec = {"vmm": a.vmm, "kernel": a.kernel_label, "run": a.run, "ok": False,
           "reason": "", "t_marker": None, "t_end": None, "end": "",
           "cmd": a.cmd}
    console = bytearray()
    errpath = os.path.join(a.logdir, "%s-%s-%s.stderr" % (a.vmm, a.kernel_label, a.run))
    os.makedirs(a.logdir, exist_ok=True)
    errf = open(errpath, "wb")
    t0 = time.monotonic()
    try:
        p = subprocess.Popen(a.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=errf, start_new_session=True)
    except OSError as e:
        rec["reason"] = "cannot start: %s" % e
        return finish(a, rec, console, errpath)
    fd = p.stdout.fileno()
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    deadline = t0 + a.timeout
    seen = False
    eof = False
    try:
        while not eof:
            now = time.monotonic()
            if now >= deadline:
                break
            if not sel.select(deadline - now):
                continue
            data = os.read(fd, 65536)
            if not data:
                eof = True
                break
            start = max(0, len(console) - len(MARKER) + 1)
            console += data
            if not seen and MARKER in console[start:]:
                t = time.monotonic() - t0
                # Sample right now, exits first: the guest keeps running.
                exits, nvms, note = kvm_exits(p.pid)
                try:
                    mem = memory(p.pid, a.mem_mib * 1024)
                except OSError as e:
                    mem = {"mem_error": str(e)}
                seen = True
                rec.update(ok=True, t_marker=round(t, 3), vms=nvms, exits_note=note, **mem)
                for c in EXIT_COUNTERS:
                    rec[c] = exits[c] if exits else None
                # After the marker: the guest powers off; allow --grace s.
                deadline = min(deadline, time.monotonic() + a.grace)
        if eof:
            try:
                rc = p.wait(max(1.0, deadline - time.monotonic()))
                rec["end"] = "exit %d" % rc
            except subprocess.TimeoutExpired:
                kill_group(p)
                rec["end"] = "stdout closed, killed"
        else:
            kill_group(p)
            rec["end"] = ("killed %d s after the marker" % a.grace if seen
                          else "killed at the %d s timeout" % a.timeout)
        rec["t_end"] = round(time.monotonic() - t0, 3)
        if not seen:
            rec["reason"] = ("no %s marker; VMM ended (%s)" % (MARKER.decode(), rec["end"])
                             if eof else "no %s marker within %d s" % (MARKER.decode(), a.timeout))
    finally:
        if p.poll() is None:
            kill_group(p)
        errf.close()
    return finish(a, rec, console, errpath)


def finish(a, rec, console, errpath):
    base = os.path.join(a.logdir, "%s-%s-%s" % (a.vmm, a.kernel_label, a.run))
    with open(base + ".console", "wb") as f:
        f.write(console)
    with open(a.results, "a") as f:
        f.write(json.dumps(rec) + "\n")
    label = "verify" if a.run == 0 else "run %d" % a.run
    if rec["ok"]:
        print("  %-5s %-7s %-6s %s" % (a.vmm, a.kernel_label, label, describe(rec)), flush=True)
        if a.run == 0 and rec.get("ram_maps"):
            print("        guest RAM taken to be: %s" % "; ".join(rec["ram_maps"]), flush=True)
        return 0
    print("  %-5s %-7s %-6s FAILED: %s (after %.1f s)" % (
        a.vmm, a.kernel_label, label, rec["reason"], rec["t_end"] or 0), flush=True)
    try:
        err = open(errpath, "rb").read()
    except OSError:
        err = b""
    for what, data in (("console", console), ("stderr", err)):
        if data.strip():
            print("    last %s lines:" % what)
            for line in tail_lines(bytes(data)).splitlines():
                print("      | " + line)
    print("    logs: %s.{console,stderr}" % base, flush=True)
    return 1


def n(v):
    return "n/a" if v is None else "{:,}".format(v)


def mib(kib):
    return "n/a" if kib is None else "%.1f" % (kib / 1024)


def describe(r):
    ex = ("exits %s (io %s, mmio %s, halt %s)" % (
        n(r.get("exits")), n(r.get("io_exits")), n(r.get("mmio_exits")), n(r.get("halt_exits")))
        if r.get("exits") is not None else "exits n/a (%s)" % r.get("exits_note", ""))
    if "rss_excl_kib" in r:
        mem = "RSS excl. RAM %s MiB (total %s, guest RAM %s)" % (
            mib(r["rss_excl_kib"]), mib(r["rss_total_kib"]), mib(r["rss_ram_kib"]))
        if not r.get("ram_covered"):
            mem += " [WARNING: guest RAM mapping not found]"
    else:
        mem = "RSS n/a (%s)" % r.get("mem_error", "")
    return "marker %7.2f s  %s  %s  end: %s at %.1f s" % (
        r["t_marker"], ex, mem, r["end"], r["t_end"])


# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------

def median(recs, key):
    vals = [r[key] for r in recs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def ratio(a, b, fmt="%.2f"):
    if a is None or b is None or b == 0:
        return "n/a"
    return (fmt % (a / b)) + "×"


def summary(a):
    recs = []
    with open(a.results) as f:
        for line in f:
            if line.strip():
                recs.append(json.loads(line))
    kernels = []
    for r in recs:
        if r["kernel"] not in kernels:
            kernels.append(r["kernel"])
    vmms = ["hutch", "qemu"]
    names = {"hutch": "hutch", "qemu": "QEMU microvm"}
    worst = 0

    print("\n## Raw numbers (measured runs; run 0 = verification/warm-up boot, not counted)\n")
    print("| VMM | kernel | run | start→marker (s) | exits | io | mmio | halt | "
          "RSS excl. RAM (MiB) | RSS total (MiB) | guest RAM RSS (MiB) | end |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in recs:
        if r["ok"]:
            print("| %s | %s | %d | %.2f | %s | %s | %s | %s | %s | %s | %s | %s at %.1f s |" % (
                r["vmm"], r["kernel"], r["run"], r["t_marker"], n(r.get("exits")),
                n(r.get("io_exits")), n(r.get("mmio_exits")), n(r.get("halt_exits")),
                mib(r.get("rss_excl_kib")), mib(r.get("rss_total_kib")),
                mib(r.get("rss_ram_kib")), r["end"], r["t_end"]))
        else:
            print("| %s | %s | %d | **FAILED**: %s | | | | | | | | %s |" % (
                r["vmm"], r["kernel"], r["run"], r["reason"], r["end"]))

    for k in kernels:
        print("\n## Kernel: %s (medians over the measured runs)\n" % k)
        print("| VMM | start→init marker (median s) | VM exits to marker (median) | "
              "io / mmio exits | RSS excl. guest RAM (MiB) | boots with marker |")
        print("|---|---|---|---|---|---|")
        med = {}
        for v in vmms:
            rs = [r for r in recs if r["vmm"] == v and r["kernel"] == k and r["run"] > 0]
            ok = [r for r in rs if r["ok"]]
            verify = [r for r in recs if r["vmm"] == v and r["kernel"] == k and r["run"] == 0]
            if len(ok) < len(rs) or any(not r["ok"] for r in verify):
                worst = 1
            m = {key: median(ok, key) for key in
                 ("t_marker", "exits", "io_exits", "mmio_exits", "rss_excl_kib")}
            med[v] = m
            note = "" if all(r["ok"] for r in verify) else " (verification boot FAILED)"
            print("| %s | %s | %s | %s / %s | %s | %d/%d%s |" % (
                names[v], "n/a" if m["t_marker"] is None else "%.2f" % m["t_marker"],
                n(intish(m["exits"])), n(intish(m["io_exits"])), n(intish(m["mmio_exits"])),
                mib(m["rss_excl_kib"]), len(ok), len(rs), note))
        h, q = med["hutch"], med["qemu"]
        print("| **hutch/QEMU** | %s | %s | %s / %s | %s | |" % (
            ratio(h["t_marker"], q["t_marker"]), ratio(h["exits"], q["exits"], "%.3f"),
            ratio(h["io_exits"], q["io_exits"], "%.3f"),
            ratio(h["mmio_exits"], q["mmio_exits"], "%.3f"),
            ratio(h["rss_excl_kib"], q["rss_excl_kib"], "%.3f")))
    return worst


def intish(v):
    return None if v is None else int(round(v))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    b = sub.add_parser("boot")
    b.add_argument("--vmm", required=True)
    b.add_argument("--kernel-label", required=True)
    b.add_argument("--run", type=int, required=True)
    b.add_argument("--mem-mib", type=int, required=True)
    b.add_argument("--timeout", type=int, default=300)
    b.add_argument("--grace", type=int, default=60)
    b.add_argument("--results", required=True)
    b.add_argument("--logdir", required=True)
    b.add_argument("cmd", nargs=argparse.REMAINDER)
    s = sub.add_parser("summary")
    s.add_argument("results")
    a = ap.parse_args()
    if a.what == "boot":
        if a.cmd and a.cmd[0] == "--":
            a.cmd = a.cmd[1:]
        if not a.cmd:
            ap.error("boot: no VMM command")
        sys.exit(boot(a))
    sys.exit(summary(a))


if __name__ == "__main__":
    main()
