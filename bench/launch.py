#!/usr/bin/env python3
"""Launch latency: `mpm-run true` (full sandbox around /bin/true) against a bare spawn of
/bin/true, interleaved in one run so that both see the same machine load.

    python3 bench/launch.py [--runs N] [--binary PATH]

Prints median and p95 of each and their ratio. Build first: swift build -c release.
"""
import argparse, os, statistics, subprocess, sys, time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)

def measure(argv, env):
    t = time.perf_counter()
    r = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"{argv[0]} exited {r.returncode}: {r.stderr.decode(errors='replace').strip()}")
    return elapsed * 1000

def p95(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--binary", default=os.path.join(root, ".build/release/mpm-run"))
    a = ap.parse_args()
    if not os.access(a.binary, os.X_OK):
        sys.exit(f"{a.binary} not found: run `swift build -c release` first")
    env = {"PATH": "/usr/bin:/bin", "MPM_AGENTS_DIR": os.path.join(here, "agents"),
           "MPM_PROFILES_DIR": os.path.join(here, "profiles"),
           "MPM_AUDIT_LOG": "/tmp/mpm-bench-%d/audit.jsonl" % os.getpid()}
    sandboxed = [a.binary, "true", "--output", "/tmp/mpm-bench-output"]
    bare = ["/bin/true"]
    for _ in range(10):  # warm caches
        measure(sandboxed, env); measure(bare, env)
    s, b = [], []
    for _ in range(a.runs):
        s.append(measure(sandboxed, env))
        b.append(measure(bare, env))
    ms, mb = statistics.median(s), statistics.median(b)
    print(f"runs: {a.runs} each, interleaved; as {'root' if os.geteuid() == 0 else 'uid %d' % os.geteuid()}")
    print(f"{'':28} {'median ms':>10} {'p95 ms':>10}")
    print(f"{'bare spawn of /bin/true':28} {mb:10.3f} {p95(b):10.3f}")
    print(f"{'mpm-run true (full sandbox)':28} {ms:10.3f} {p95(s):10.3f}")
    print(f"ratio (median): {ms / mb:.2f}x")

main()
