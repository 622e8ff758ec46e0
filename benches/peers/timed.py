"""Run a command and write its wall-clock seconds, peak RSS and exit code as JSON.

Peak RSS is the child's own maximum resident set (getrusage through wait4),
the figure `/usr/bin/time -f %M` gives, without needing GNU time.
Exits 0 whatever the command did; the caller reads "rc".

Usage: python3 timed.py RESULT.json CMD [ARG...]
"""
import json
import os
import subprocess
import sys
import time


def main():
    result, cmd = sys.argv[1], sys.argv[2:]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    with open(result, "w") as f:
        json.dump({"cmd": cmd, "seconds": wall, "rss_mb": usage.ru_maxrss / 1024,
                   "rc": p.returncode}, f)


if __name__ == "__main__":
    main()
