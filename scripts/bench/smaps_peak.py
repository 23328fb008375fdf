#!/usr/bin/env python3
"""smaps_peak.py — where a process's resident memory is, at its peak.

    smaps_peak.py watch PID OUT      sample /proc/PID/smaps every 50 ms until the process
                                     ends or SIGTERM; keep the sample with the most Rss in OUT
    smaps_peak.py show FILE...       classify the mappings of saved samples

Classes (anonymous mappings are told apart by their shape, as glibc and fuser make them):
  fuser request buffers   anonymous, a multiple of 16 MiB + 8 KiB (fuser 0.18 allocates
                          16 MiB + 4 KiB per FUSE thread; adjacent ones merge)
  malloc arenas           anonymous, inside 64 MiB-aligned heap reservations of threads'
                          arenas (size a divisor of 64 MiB), and the main [heap]
  thread stacks           anonymous mappings right after a 4 KiB guard page (---p)
  mmapped blocks          other anonymous mappings of 128 KiB or more (large malloc blocks)
  code and data           file-backed mappings (the binary, libraries)
  other                   the rest
"""
import re
import signal
import sys
import time

HEAD = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")
FUSER = 16 * 1024 + 8  # kB


def parse(text):
    maps = []
    cur = None
    for line in text.splitlines():
        m = HEAD.match(line)
        if m:
            lo, hi = int(m.group(1), 16), int(m.group(2), 16)
            cur = {"lo": lo, "hi": hi, "kb": (hi - lo) // 1024, "perm": m.group(3),
                   "name": m.group(4), "rss": 0}
            maps.append(cur)
        elif line.startswith("Rss:") and cur is not None:
            cur["rss"] = int(line.split()[1])
    return maps


def classify(maps):
    out = {}
    prev = None
    for m in maps:
        kb, name, perm = m["kb"], m["name"], m["perm"]
        if name and not name.startswith("["):
            c = "code and data"
        elif name == "[heap]":
            c = "malloc arenas"
        elif name:
            c = "other"
        elif prev is not None and prev["perm"] == "---p" and prev["hi"] == m["lo"] and prev["kb"] == 4:
            c = "thread stacks"
        elif kb % FUSER == 0:
            c = "fuser request buffers"
        elif perm == "rw-p" and prev is not None and prev["hi"] == m["lo"] and \
                (m["lo"] % (64 << 20) == 0) and kb <= 65536:
            c = "malloc arenas"
        elif perm == "rw-p" and m["lo"] % (64 << 20) == 0 and kb <= 65536:
            c = "malloc arenas"
        elif kb >= 128:
            c = "mmapped blocks"
        else:
            c = "other"
        n, r = out.get(c, (0, 0))
        out[c] = (n + 1, r + m["rss"])
        prev = m
    return out


def watch(pid, path):
    best, best_rss = "", -1
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    while not stop[0]:
        try:
            with open(f"/proc/{pid}/smaps") as f:
                text = f.read()
        except OSError:
            break
        rss = sum(m["rss"] for m in parse(text))
        if rss > best_rss:
            best, best_rss = text, rss
        time.sleep(0.05)
    with open(path, "w") as f:
        f.write(best)


def show(paths):
    for p in paths:
        with open(p) as f:
            maps = parse(f.read())
        total = sum(m["rss"] for m in maps)
        print(f"== {p}: {total / 1024:.1f} MiB resident")
        for c, (n, r) in sorted(classify(maps).items(), key=lambda x: -x[1][1]):
            print(f"   {r / 1024:7.1f} MiB  {c} ({n} mappings)")


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "watch":
        watch(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) >= 3 and sys.argv[1] == "show":
        show(sys.argv[2:])
    else:
        sys.exit(__doc__)
