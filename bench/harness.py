#!/usr/bin/env python3
"""The benchmarks of issue 6, each measured interleaved with its baselines in one run.

Run through `bench/run` (it installs what is compared against, builds mpm-run in release and
then calls this file); `bench/run --help` lists the options. Writes results.md and results.png.

Measures (a ratio is always against a baseline measured in the same run):
  launch   `mpm-run bench-true` from a cold process (full sandbox around /bin/true), as root and
           as uid 65534, against a bare spawn, bubblewrap (--unshare-all --cap-drop ALL
           --seccomp), firejail --noprofile and `mpm-run --version` (the binary's cold start)
  serve    `run` request to `run/exited` through one `mpm-run serve`, against a bare
           spawn-and-wait of /bin/true from the same client
  batch    200 launches, 16 at a time, through one `serve`, against 200 bare spawns 16 at a time
  stream   1 GiB of log text through `mpm-run bench-cat --stdin` (redaction on), against cat
           through a pipe; the same reader drains both
  rss      VmRSS/VmHWM of `serve` while 1000 agents sleep under it
  check    `mpm-run check` over 1000 agent files, against `mpm-run --version`

Every timed launch is a posix_spawn + waitpid from a Python process whose own overhead is
outside the timed interval; the uid-65534 launches are timed by a worker process that runs as
that uid (so no setpriv sits inside the timed interval). The order of the commands is shuffled
in every round so that drifts of this shared 2-core machine fall on all of them alike.
"""
import argparse
import datetime
import errno
import json
import os
import platform
import random
import resource
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NOBODY = 65534
SETPRIV = ["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups"]
GIB = 1 << 30

# The syscalls every mpm-run profile denies (CONTRACT.md section 4): bubblewrap's filter
# denies the same, so both pay for a filter of the same size.
DENIED_SYSCALLS = """ptrace process_vm_readv process_vm_writev mount umount2 pivot_root chroot
unshare setns bpf perf_event_open kexec_load init_module finit_module delete_module keyctl
add_key request_key reboot swapon swapoff io_uring_setup userfaultfd open_by_handle_at acct
quotactl settimeofday clock_settime adjtimex syslog""".split()


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- statistics

def median(xs):
    return statistics.median(xs)


def p95(xs):
    """The 95th percentile, linearly interpolated (the 'inclusive' method)."""
    if len(xs) < 2:
        return xs[0]
    return statistics.quantiles(xs, n=20, method="inclusive")[18]


def p5(xs):
    if len(xs) < 2:
        return xs[0]
    return statistics.quantiles(xs, n=20, method="inclusive")[0]


# ---------------------------------------------------------------- spawning

def spawn_and_wait(spec):
    """Spawns spec["argv"] (stdin and stdout /dev/null, stderr to spec["errlog"], fd 3 from
    spec["fd3"] if given) and waits; returns (nanoseconds, exit code). Only the spawn and
    the wait are inside the timed interval."""
    fa = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
          (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
          (os.POSIX_SPAWN_OPEN, 2, spec["errlog"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
    if spec.get("fd3"):
        fa.append((os.POSIX_SPAWN_OPEN, 3, spec["fd3"], os.O_RDONLY, 0))
    argv = spec["argv"]
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, spec["env"], file_actions=fa)
    _, status = os.waitpid(pid, 0)
    t1 = time.perf_counter_ns()
    return t1 - t0, os.waitstatus_to_exitcode(status)


def worker_main():
    """`harness.py --worker DIR`: runs as another uid; times the spawns the driver asks for,
    one JSON command per line in, one JSON answer per line out."""
    os.chdir(sys.argv[2])
    for line in sys.stdin:
        spec = json.loads(line)
        ns, code = spawn_and_wait(spec)
        sys.stdout.write(json.dumps({"ns": ns, "code": code}) + "\n")
        sys.stdout.flush()


class LocalSpawner:
    def __init__(self, cwd):
        self.cwd = cwd

    def run(self, spec):
        os.chdir(self.cwd)
        return spawn_and_wait(spec)

    def close(self):
        pass


class NobodySpawner:
    """A worker process running as uid 65534 that times the spawns it is sent."""

    def __init__(self, cwd):
        self.p = subprocess.Popen(SETPRIV + [sys.executable, os.path.abspath(__file__), "--worker", cwd],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                                  cwd=cwd, env={"PATH": "/usr/bin:/bin"})

    def run(self, spec):
        self.p.stdin.write(json.dumps(spec) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            sys.exit("bench: the uid-65534 worker died")
        a = json.loads(line)
        return a["ns"], a["code"]

    def close(self):
        self.p.stdin.close()
        self.p.wait()


# ---------------------------------------------------------------- the setting

class Setting:
    """Folders, environments and files for one bench run."""

    def __init__(self, args):
        self.args = args
        self.mpm = os.path.abspath(args.binary)
        self.work = tempfile.mkdtemp(prefix="mpm-bench-")
        os.chmod(self.work, 0o755)
        self.home = {}
        for who, uid in (("root", 0), ("nobody", NOBODY)):
            d = os.path.join(self.work, who)
            for sub in ("", "tmp", "out", "state"):
                os.makedirs(os.path.join(d, sub), exist_ok=True)
                os.chown(os.path.join(d, sub), uid, uid)
            self.home[who] = d
        self.blob = os.path.join(self.work, "seccomp.bpf")
        self.write_seccomp_blob()

    def env(self, who):
        d = self.home[who]
        # TMPDIR of our own: the sandboxes and the stale-sandbox sweep of these runs stay
        # apart from any other mpm-run on the machine (a test suite, another session).
        return {"PATH": "/usr/bin:/bin", "HOME": d, "TMPDIR": os.path.join(d, "tmp"),
                "MPM_AGENTS_DIR": os.path.join(HERE, "agents"),
                "MPM_PROFILES_DIR": os.path.join(HERE, "profiles"),
                "MPM_AUDIT_LOG": os.path.join(d, "state", "audit.jsonl")}

    def errlog(self, who, name):
        return os.path.join(self.home[who], "stderr-" + name.replace(" ", "_").replace("/", "_"))

    def write_seccomp_blob(self):
        import seccomp  # python3-seccomp, libseccomp's own binding
        f = seccomp.SyscallFilter(seccomp.ALLOW)
        for name in DENIED_SYSCALLS:
            f.add_rule(seccomp.ERRNO(errno.EPERM), name)
        with open(self.blob, "wb") as out:
            f.export_bpf(out)
        os.chmod(self.blob, 0o644)

    def cleanup(self):
        shutil.rmtree(self.work, ignore_errors=True)


def command(s, name, who, argv, fd3=None):
    env = s.env(who)
    return {"name": name, "who": who, "argv": argv, "env": env, "errlog": s.errlog(who, name), "fd3": fd3}


def mpm_run_cmd(s, who, agent="bench-true"):
    return [s.mpm, agent, "--output", os.path.join(s.home[who], "out")]


def bwrap_cmd(s):
    return [shutil.which("bwrap"), "--ro-bind", "/", "/", "--unshare-all", "--cap-drop", "ALL",
            "--seccomp", "3", "/bin/true"]


FAILURES = {}


def interleave(commands, spawners, rounds, warmup, label, failures=FAILURES):
    """Runs every command once per round, in a shuffled order; returns name -> [ms]."""
    times = {c["name"]: [] for c in commands}
    rng = random.Random(6)
    order = list(commands)
    t_start = time.monotonic()
    for r in range(warmup + rounds):
        rng.shuffle(order)
        for c in order:
            spec = {k: c[k] for k in ("argv", "env", "errlog", "fd3")}
            if c.get("fresh_audit_log"):
                # A log of this round's own: each launch then reads no history (see
                # measure_launch for the command that keeps one log).
                spec["env"] = dict(c["env"], MPM_AUDIT_LOG=os.path.join(
                    os.path.dirname(c["env"]["MPM_AUDIT_LOG"]), f"audit-round-{r}.jsonl"))
            for attempt in range(3):
                ns, code = spawners[c["who"]].run(spec)
                if code == 0:
                    break
                # A failed launch is counted and reported, and the slot tried again: other
                # mpm-runs on this machine (a test suite as root) share the cgroup folders.
                try:
                    err = open(c["errlog"], errors="replace").read().strip()
                except OSError:
                    err = ""
                key = f"{c['name']}: exit {code}: {err.splitlines()[-1] if err else '(no stderr)'}"
                failures[key] = failures.get(key, 0) + 1
                if sum(failures.values()) > max(5, rounds * len(commands) // 20):
                    sys.exit(f"bench: too many failed launches: {failures}")
            else:
                sys.exit(f"bench: {c['name']} failed 3 times in a row: {err[-2000:]}")
            if r >= warmup:
                times[c["name"]].append(ns / 1e6)
        if (r + 1) % 25 == 0:
            log(f"  {label}: round {r + 1}/{warmup + rounds} ({time.monotonic() - t_start:.0f} s)")
    return times


# ---------------------------------------------------------------- serve client

class ServeUnavailable(Exception):
    pass


class Serve:
    """A JSON-RPC 2.0 client of one `mpm-run serve` (CONTRACT.md section 6)."""

    count = 0

    def __init__(self, s, who, max_concurrent=64, timeout=60.0):
        self.timeout = timeout
        prefix = SETPRIV if who == "nobody" else []
        Serve.count += 1
        self.errlog = s.errlog(who, f"serve-{Serve.count}")
        env = s.env(who)
        # An audit log of this serve's own, which it reads for every run's rate limit.
        self.audit_log = os.path.join(s.home[who], "state", f"serve-{Serve.count}.jsonl")
        env["MPM_AUDIT_LOG"] = self.audit_log
        with open(self.errlog, "w") as err:
            self.p = subprocess.Popen(prefix + [s.mpm, "serve", "--max-concurrent", str(max_concurrent)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                      env=env, cwd=s.home[who], bufsize=0)
        self.fd = self.p.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.fd, selectors.EVENT_READ)
        self.buf = b""
        self.lines = []
        self.next_id = 1
        self.results = {}     # request id -> result or error
        self.started = {}     # run_id -> params
        self.exited = {}      # run_id -> params
        self.eof = False

    def send(self, method, params=None):
        rid = self.next_id
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}}
        self.p.stdin.write((json.dumps(msg, separators=(",", ":")) + "\n").encode())
        return rid

    def _fill(self, deadline):
        while not self.lines:
            if self.eof:
                raise RuntimeError(f"serve closed its stdout; stderr: {self.stderr_tail()}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"serve said nothing for {self.timeout:.0f} s; stderr: {self.stderr_tail()}")
            if not self.sel.select(left):
                continue
            while True:
                try:
                    chunk = os.read(self.fd, 1 << 20)
                except BlockingIOError:
                    break
                if not chunk:
                    self.eof = True
                    break
                self.buf += chunk
            *done, self.buf = self.buf.split(b"\n")
            self.lines.extend(done)

    def read(self):
        """Reads and files one message; returns it."""
        self._fill(time.monotonic() + self.timeout)
        m = json.loads(self.lines.pop(0))
        if "id" in m and "method" not in m:
            self.results[m["id"]] = m
        elif m.get("method") == "run/started":
            self.started[m["params"]["run_id"]] = m["params"]
        elif m.get("method") == "run/exited":
            self.exited[m["params"]["run_id"]] = m["params"]
        return m

    def call(self, method, params=None):
        rid = self.send(method, params)
        while rid not in self.results:
            self.read()
        m = self.results.pop(rid)
        if "error" in m:
            raise RuntimeError(f"serve answered {method} with {m['error']}")
        return m["result"]

    def run_id_of(self, rid):
        m = self.results.get(rid)
        if m is None:
            return None
        if "error" in m:
            raise RuntimeError(f"serve refused a run: {m['error']}")
        return m["result"]["run_id"]

    def run_to_exit(self, agent):
        """Sends one `run` and reads until its `run/exited`; returns ms."""
        t0 = time.perf_counter_ns()
        rid = self.send("run", {"agent": agent})
        while True:
            run_id = self.run_id_of(rid)
            if run_id is not None and run_id in self.exited:
                break
            self.read()
        t1 = time.perf_counter_ns()
        self.results.pop(rid)
        ex = self.exited.pop(run_id)
        self.started.pop(run_id, None)
        if ex.get("exit_code") != 0:
            return None, ex
        return (t1 - t0) / 1e6, ex

    def batch(self, agent, total, width):
        """`total` runs, `width` in flight at a time; returns ms from the first request to
        the last `run/exited`."""
        t0 = time.perf_counter_ns()
        ids = set()
        for _ in range(min(width, total)):
            ids.add(self.send("run", {"agent": agent}))
        sent, done, failed = len(ids), 0, 0
        while done < total:
            m = self.read()
            if "id" in m and "error" in m:
                raise RuntimeError(f"serve refused a run: {m['error']}")
            if m.get("method") == "run/exited":
                p = self.exited.pop(m["params"]["run_id"])
                self.started.pop(p["run_id"], None)
                if p.get("exit_code") != 0:
                    why = (p.get("error") or "")[:100]
                    key = f"serve batch run: {p.get('reason')} exit {p.get('exit_code')} {why}".strip()
                    FAILURES[key] = FAILURES.get(key, 0) + 1
                    failed += 1
                done += 1
                if sent < total:
                    self.send("run", {"agent": agent})
                    sent += 1
        t1 = time.perf_counter_ns()
        self.results.clear()
        return (t1 - t0) / 1e6, failed

    def status_file(self):
        fields = {}
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                fields[k] = v.strip()
        return fields

    def rss_kib(self):
        st = self.status_file()
        return int(st["VmRSS"].split()[0]), int(st["VmHWM"].split()[0]), int(st.get("Threads", "0"))

    def stderr_tail(self):
        try:
            return open(self.errlog, errors="replace").read()[-1500:].strip() or "(empty)"
        except OSError:
            return "(unreadable)"

    def audit_records(self):
        try:
            with open(self.audit_log, "rb") as f:
                return sum(1 for _ in f)
        except OSError:
            return None

    def close(self, wait=60.0):
        try:
            self.call("shutdown")
        except Exception:
            pass
        try:
            self.p.stdin.close()
        except OSError:
            pass
        # serve writes every run's end before it exits: read stdout to EOF, as an
        # orchestrator must, or its writer blocks on a full pipe.
        deadline = time.monotonic() + wait
        while not self.eof and time.monotonic() < deadline:
            if not self.sel.select(max(0.0, deadline - time.monotonic())):
                continue
            try:
                self.eof = not os.read(self.fd, 1 << 20)
            except BlockingIOError:
                pass
            except OSError:
                break
        try:
            self.p.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log(f"  serve did not exit {wait:.0f} s after shutdown; killing it")
            self.p.kill()
            self.p.wait()
        self.sel.close()


def serve_available(s):
    """`serve --help` that is serve's own: before serve existed, `mpm-run serve --help` was the
    default command's help (run, with "serve" as the agent) and exited 0 too."""
    r = subprocess.run([s.mpm, "serve", "--help"], capture_output=True, text=True, env=s.env("root"))
    return r.returncode == 0 and "mpm-run serve" in r.stdout


def bare_batch(total, width, env):
    """`total` bare spawns of /bin/true, `width` at a time; returns ms."""
    t0 = time.perf_counter_ns()
    fa = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
          (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)]
    live, sent = set(), 0
    while sent < min(width, total):
        live.add(os.posix_spawn("/bin/true", ["/bin/true"], env, file_actions=fa))
        sent += 1
    done = 0
    while done < total:
        pid, status = os.wait()
        if pid in live:
            live.remove(pid)
            if os.waitstatus_to_exitcode(status) != 0:
                sys.exit("bench: /bin/true failed")
            done += 1
            if sent < total:
                live.add(os.posix_spawn("/bin/true", ["/bin/true"], env, file_actions=fa))
                sent += 1
    return (time.perf_counter_ns() - t0) / 1e6


def bare_spawn_ms(env):
    fa = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
          (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)]
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn("/bin/true", ["/bin/true"], env, file_actions=fa)
    _, status = os.waitpid(pid, 0)
    t1 = time.perf_counter_ns()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("bench: /bin/true failed")
    return (t1 - t0) / 1e6


# ---------------------------------------------------------------- measures

def measure_launch(s, R):
    a = s.args
    log(f"launch: {a.rounds} interleaved rounds (+{a.warmup} warm-up)")
    # Every launch checks the agent's rate limit and quarantine in the audit log, reading the
    # records of the last 900 s, so its cost grows with the agent's recent launches. The
    # headline rows start each round with an empty log (a launch without history); the
    # "audit log of the whole run" row keeps one log through all rounds and so shows that cost.
    history = command(s, "mpm-run (root), one audit log all along", "root", mpm_run_cmd(s, "root"))
    history["env"] = dict(history["env"], MPM_AUDIT_LOG=os.path.join(s.home["root"], "state", "history.jsonl"))
    cmds = [
        command(s, "bare /bin/true", "root", ["/bin/true"]),
        command(s, "mpm-run --version", "root", [s.mpm, "--version"]),
        dict(command(s, "mpm-run (root)", "root", mpm_run_cmd(s, "root")), fresh_audit_log=True),
        history,
        command(s, "bubblewrap (root)", "root", bwrap_cmd(s), fd3=s.blob),
        command(s, "firejail (root)", "root", ["/usr/bin/firejail", "--quiet", "--noprofile", "/bin/true"]),
    ]
    if not a.no_nobody:
        cmds += [
            dict(command(s, "mpm-run (uid 65534)", "nobody", mpm_run_cmd(s, "nobody")), fresh_audit_log=True),
            command(s, "bubblewrap (uid 65534)", "nobody", bwrap_cmd(s), fd3=s.blob),
        ]
    spawners = {"root": LocalSpawner(s.home["root"])}
    if not a.no_nobody:
        spawners["nobody"] = NobodySpawner(s.home["nobody"])
    try:
        times = interleave(cmds, spawners, a.rounds, a.warmup, "launch")
    finally:
        for sp in spawners.values():
            sp.close()
    try:
        with open(history["env"]["MPM_AUDIT_LOG"], "rb") as f:
            history_records = sum(1 for _ in f)
    except OSError:
        history_records = None
    R["launch"] = {"unit": "ms", "rounds": a.rounds, "times": times, "order": [c["name"] for c in cmds],
                   "history_records": history_records,
                   "argv": {c["name"]: " ".join(os.path.basename(c["argv"][0]) if i == 0 else x
                                                for i, x in enumerate(c["argv"]))
                                        + (" 3<seccomp.bpf" if c["fd3"] else "") for c in cmds}}


def measure_serve(s, R):
    a = s.args
    if not serve_available(s):
        log("serve: not available (`mpm-run serve --help` failed); skipping serve, batch and rss")
        R["serve_unavailable"] = True
        return
    env = s.env("root")
    whos = ["root"] + ([] if a.no_nobody else ["nobody"])
    # run request -> run/exited, against a bare spawn-and-wait, interleaved
    log(f"serve: {a.serve_rounds} interleaved rounds (+{a.warmup} warm-up)")
    times = {"bare spawn-and-wait": []}
    servers = {}
    try:
        for who in whos:
            servers[who] = Serve(s, who)
            times[f"serve run→exited ({'root' if who == 'root' else 'uid 65534'})"] = []
        rng = random.Random(7)
        jobs = [("bare", None)] + [("serve", w) for w in whos]
        for r in range(a.warmup + a.serve_rounds):
            rng.shuffle(jobs)
            for kind, who in jobs:
                if kind == "bare":
                    ms, name = bare_spawn_ms(env), "bare spawn-and-wait"
                else:
                    for attempt in range(3):
                        ms, ex = servers[who].run_to_exit("bench-true")
                        if ms is not None:
                            break
                        key = f"serve run ({who}): {ex.get('reason')} exit {ex.get('exit_code')}"
                        FAILURES[key] = FAILURES.get(key, 0) + 1
                    else:
                        raise RuntimeError(f"three runs in a row failed: {ex}; stderr: {servers[who].stderr_tail()}")
                    name = f"serve run→exited ({'root' if who == 'root' else 'uid 65534'})"
                if r >= a.warmup:
                    times[name].append(ms)
        R["serve"] = {"unit": "ms", "times": times, "order": list(times)}

        # 200 launches, 16 at a time, against 200 bare spawns 16 at a time
        log(f"batch: {a.batch_trials} interleaved trials of {a.batch_size} launches, {a.batch_width} at a time")
        btimes = {"bare, 16 at a time": []}
        bfailed = {}
        for who in whos:
            btimes[f"serve ({'root' if who == 'root' else 'uid 65534'})"] = []
        jobs = [("bare", None)] + [("serve", w) for w in whos]
        for t in range(1 + a.batch_trials):
            rng.shuffle(jobs)
            for kind, who in jobs:
                if kind == "bare":
                    ms, name = bare_batch(a.batch_size, a.batch_width, env), "bare, 16 at a time"
                else:
                    # A serve of its own per trial, so that every trial starts with an empty
                    # audit log (each run reads its agent's recent records: see README).
                    sv = Serve(s, who)
                    try:
                        ms, nfail = sv.batch("bench-true", a.batch_size, a.batch_width)
                    finally:
                        sv.close()
                    name = f"serve ({'root' if who == 'root' else 'uid 65534'})"
                    if t >= 1:
                        bfailed[name] = bfailed.get(name, 0) + nfail
                if t >= 1:
                    btimes[name].append(ms)
        R["batch"] = {"unit": "ms", "times": btimes, "order": list(btimes), "failed": bfailed,
                      "size": a.batch_size, "width": a.batch_width}
        R["serve"]["audit_records"] = {who: sv.audit_records() for who, sv in servers.items()}
        R["serve"]["rounds"] = a.serve_rounds
    except (RuntimeError, TimeoutError) as e:
        log(f"serve: failed: {e}")
        R["serve_error"] = str(e)
    finally:
        for sv in servers.values():
            sv.close()


def measure_rss(s, R):
    a = s.args
    if R.get("serve_unavailable") or not serve_available(s):
        R["serve_unavailable"] = True
        return
    n = a.rss_agents
    log(f"rss: {n} sleeping agents under one serve (root)")
    sv = Serve(s, "root", max_concurrent=n, timeout=120.0)
    out = {"agents": n}
    try:
        sv.call("status")
        out["idle_rss_kib"], out["idle_hwm_kib"], out["idle_threads"] = sv.rss_kib()
        t0 = time.monotonic()
        for _ in range(n):
            sv.send("run", {"agent": "bench-sleep"})
        deadline = time.monotonic() + a.rss_timeout
        failed = 0
        # A run that fails to start is counted and replaced (other mpm-runs on the machine
        # share the cgroup folders); one that ends after it started is an error.
        while len(sv.started) - len(sv.exited) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(sv.started) - len(sv.exited)} of {n} agents running "
                                   f"after {a.rss_timeout} s")
            m = sv.read()
            if "id" in m and "error" in m:
                raise RuntimeError(f"serve refused run {m['id']}: {m['error']}")
            if m.get("method") == "run/exited":
                p = m["params"]
                sv.exited.pop(p["run_id"], None)
                sv.started.pop(p["run_id"], None)
                if p.get("reason") != "denied" or failed >= max(5, n // 20):
                    raise RuntimeError(f"a sleeping agent ended early: {p}")
                failed += 1
                why = (p.get("error") or "")[:100]
                key = f"rss run: {p.get('reason')} exit {p.get('exit_code')} {why}".strip()
                FAILURES[key] = FAILURES.get(key, 0) + 1
                sv.send("run", {"agent": "bench-sleep"})
        out["failed_starts"] = failed
        out["start_seconds"] = time.monotonic() - t0
        st = sv.call("status")
        out["running"] = sum(1 for r in st.get("runs", []) if r.get("state", "running") == "running")
        samples = []
        for _ in range(5):
            samples.append(sv.rss_kib())
            time.sleep(0.2)
        out["rss_kib"] = max(x[0] for x in samples)
        out["hwm_kib"] = max(x[1] for x in samples)
        out["threads"] = max(x[2] for x in samples)
        out["fds"] = len(os.listdir(f"/proc/{sv.p.pid}/fd"))
    except (RuntimeError, TimeoutError) as e:
        log(f"rss: failed: {e}")
        out["error"] = str(e)
        try:
            out["rss_kib"], out["hwm_kib"], out["threads"] = sv.rss_kib()
        except (OSError, KeyError):
            pass
    finally:
        sv.close(wait=120.0)
    R["rss"] = out


def gen_log_block(size, seed=6):
    """Log-like text with no secret in it, so every byte comes out as it went in."""
    rng = random.Random(seed)
    words = ("request handled user session cache miss hit upstream retry backoff queue worker "
             "started finished connection closed opened timeout ok error warn info debug "
             "config reload shard replica leader follower commit index segment flush").split()
    levels = ["INFO", "DEBUG", "WARN", "ERROR"]
    lines = []
    n = 0
    while n < size:
        line = (f"2025-11-22T06:{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(1000):03d}Z "
                f"{rng.choice(levels):5} [{rng.choice(['api', 'db', 'auth', 'web'])}-{rng.randrange(16)}] "
                + " ".join(rng.choice(words) for _ in range(rng.randrange(4, 14)))
                + f" path=/srv/app/{rng.choice(words)}/{rng.randrange(10**6)} ms={rng.randrange(2000)}\n")
        lines.append(line)
        n += len(line)
    return "".join(lines).encode()[:size]


def stream_once(argv, env, cwd, data, errlog):
    """Runs argv (or `a | b` when argv has a "|") with the data file as stdin, drains its
    stdout in 1 MiB reads; returns (ms, bytes read)."""
    buf = bytearray(1 << 20)
    stages = [argv]
    if "|" in argv:
        i = argv.index("|")
        stages = [argv[:i], argv[i + 1:]]
    with open(data, "rb") as f, open(errlog, "w") as err:
        t0 = time.perf_counter_ns()
        procs = []
        stdin = f
        for st in stages:
            p = subprocess.Popen(st, stdin=stdin, stdout=subprocess.PIPE, stderr=err, env=env, cwd=cwd, bufsize=0)
            if procs:
                procs[-1].stdout.close()
            procs.append(p)
            stdin = p.stdout
        fd = procs[-1].stdout.fileno()
        n = 0
        while True:
            k = os.readv(fd, [buf])
            if k == 0:
                break
            n += k
        codes = [p.wait() for p in procs]
        t1 = time.perf_counter_ns()
        procs[-1].stdout.close()
    if any(codes):
        sys.exit(f"bench: {argv} exited {codes}: {open(errlog, errors='replace').read()[-1500:]}")
    return (t1 - t0) / 1e6, n


def measure_stream(s, R):
    a = s.args
    size = a.stream_mib << 20
    # In tmpfs when there is room: no disk writeback competes with the trials.
    shm = "/dev/shm"
    try:
        st = os.statvfs(shm)
        room = st.f_bavail * st.f_frsize > 2 * size
    except OSError:
        room = False
    data = os.path.join(shm if room else s.work, f"mpm-bench-stream-{os.getpid()}.log")
    block = gen_log_block(8 << 20)
    with open(data, "wb") as f:
        left = size
        while left > 0:
            f.write(block[:left])
            left -= len(block[:left])
    os.chmod(data, 0o644)
    log(f"stream: {a.stream_trials} interleaved trials of {a.stream_mib} MiB")
    # The target's baseline is cat relaying a pipe: the same shape as mpm-run relaying its
    # agent's stdout (producer | relay | reader, two pipes). cat straight into the reader (one
    # pipe, a copy fewer) is shown too, as the floor.
    cmds = [("cat relaying a pipe", "root", ["/bin/cat", "|", "/bin/cat"]),
            ("cat straight into the reader", "root", ["/bin/cat"]),
            ("mpm-run (root)", "root", [s.mpm, "bench-cat", "--stdin", "--output", os.path.join(s.home["root"], "out")])]
    if not a.no_nobody:
        cmds.append(("mpm-run (uid 65534)", "nobody",
                     SETPRIV + [s.mpm, "bench-cat", "--stdin", "--output", os.path.join(s.home["nobody"], "out")]))
    times = {c[0]: [] for c in cmds}
    sizes = {}
    rng = random.Random(8)
    try:
        for t in range(1 + a.stream_trials):
            rng.shuffle(cmds)
            for name, who, argv in cmds:
                ms, n = stream_once(argv, s.env(who), s.home[who], data, s.errlog(who, "stream"))
                sizes[name] = n
                if t >= 1:
                    times[name].append(ms)
    finally:
        os.unlink(data)
    R["stream"] = {"unit": "ms", "bytes": size, "times": times, "received": sizes,
                   "order": [c for c in ("cat relaying a pipe", "mpm-run (root)", "mpm-run (uid 65534)",
                                         "cat straight into the reader") if c in times]}


def measure_check(s, R):
    a = s.args
    d = os.path.join(s.work, "check-agents")
    os.makedirs(d)
    for i in range(a.check_agents):
        with open(os.path.join(d, f"agent-{i:04d}.yaml"), "w") as f:
            f.write(f"agent_id: agent-{i:04d}\nversion: 1.0.{i}\ntype: bench\n"
                    f"metadata: {{name: Agent {i}, description: Generated agent number {i} for the check benchmark.}}\n"
                    f"instructions: |\n  Read the inputs and write a short summary of them to output/summary.md.\n"
                    f"  This is generated agent number {i}.\n"
                    f"command: [/bin/true]\nlimits: {{memory_mb: 128, timeout_seconds: 20}}\n")
    log(f"check: {a.check_trials} interleaved trials over {a.check_agents} agent files")
    env = s.env("root")
    env["MPM_AGENTS_DIR"] = d
    cmds = [{"name": "mpm-run --version", "who": "root", "argv": [s.mpm, "--version"], "env": env,
             "errlog": s.errlog("root", "version"), "fd3": None},
            {"name": f"mpm-run check ({a.check_agents} agents)", "who": "root", "argv": [s.mpm, "check"], "env": env,
             "errlog": s.errlog("root", "check"), "fd3": None}]
    # check's own verdict first: it must be a clean pass, or the time is of something else.
    r = subprocess.run([s.mpm, "check"], env=env, cwd=s.home["root"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench: mpm-run check found problems in the generated agents:\n{r.stdout[-1500:]}{r.stderr[-1500:]}")
    times = interleave(cmds, {"root": LocalSpawner(s.home["root"])}, a.check_trials, 2, "check")
    R["check"] = {"unit": "ms", "times": times, "order": [c["name"] for c in cmds], "agents": a.check_agents}


def measure_hyperfine(s, R):
    """An outside timer as a cross-check of ours: hyperfine, not interleaved."""
    a = s.args
    hf = shutil.which("hyperfine")
    if a.hyperfine_runs <= 0 or not hf:
        return
    log(f"hyperfine: {a.hyperfine_runs} runs each (cross-check, not interleaved)")
    out = os.path.join(s.work, "hyperfine.json")
    # -N: no shell in between. bubblewrap is left out: its --seccomp fd would be read to
    # its end by the first run, and a shell around it alone would not be a fair comparison.
    cmds = ["/bin/true", s.mpm + " --version", " ".join(mpm_run_cmd(s, "root"))]
    names = ["bare /bin/true", "mpm-run --version", "mpm-run (root)"]
    r = subprocess.run([hf, "-N", "--style", "none", "--warmup", "3", "--runs", str(a.hyperfine_runs),
                        "--export-json", out] + cmds, env=s.env("root"), cwd=s.home["root"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        log(f"hyperfine failed: {r.stderr[-800:]}")
        return
    res = json.load(open(out))["results"]
    R["hyperfine"] = {n: {"median": x["median"] * 1000, "mean": x["mean"] * 1000,
                          "p95": p95([t * 1000 for t in x["times"]])} for n, x in zip(names, res)}


# ---------------------------------------------------------------- report

def summary_rows(R):
    """(measure, subject, subject median, subject p95, baseline, baseline median, ratio,
    target text, met) per headline figure."""
    rows = []

    def lat(group, subj, base, limit, label, target_text):
        g = R.get(group)
        if not g or subj not in g["times"] or base not in g["times"]:
            return
        xs, bs = g["times"][subj], g["times"][base]
        ratio = median(xs) / median(bs)
        rows.append(dict(measure=label, subject=subj, med=f"{median(xs):.2f} ms", p95=f"{p95(xs):.2f} ms",
                         base=base, bmed=f"{median(bs):.2f} ms", bp95=f"{p95(bs):.2f} ms",
                         ratio=f"{ratio:.2f}×", target=target_text, met=ratio <= limit))

    for who in ("root", "uid 65534"):
        lat("launch", f"mpm-run ({who})", f"bubblewrap ({who})", 0.6, "cold launch, /bin/true", "≤ 0.6× bubblewrap")
        g = R.get("launch")
        if g and f"mpm-run ({who})" in g["times"]:
            xs = g["times"][f"mpm-run ({who})"]
            rows.append(dict(measure="cold launch, /bin/true", subject=f"mpm-run ({who})", med=f"{median(xs):.2f} ms",
                             p95=f"{p95(xs):.2f} ms", base="minijail's class (fixed)", bmed="3.30 ms", bp95="",
                             ratio=f"{median(xs) / 3.3:.2f}×", target="< 3.3 ms", met=median(xs) < 3.3))
    if R.get("serve_unavailable"):
        for m in ("serve: run → run/exited", "200 launches, 16 at a time", "supervisor RSS, 1000 sleeping agents"):
            rows.append(dict(measure=m, subject="serve not available", med="", p95="", base="", bmed="", bp95="",
                             ratio="", target={"serve: run → run/exited": "≤ 1.5× bare",
                                               "200 launches, 16 at a time": "≤ 1.5× bare"}.get(m, "≤ 32 MiB"),
                             met=None))
    else:
        if R.get("serve_error") and "serve" not in R:
            rows.append(dict(measure="serve", subject="failed: " + R["serve_error"][:120], med="", p95="", base="",
                             bmed="", bp95="", ratio="", target="", met=False))
        for who in ("root", "uid 65534"):
            lat("serve", f"serve run→exited ({who})", "bare spawn-and-wait", 1.5, "serve: run → run/exited", "≤ 1.5× bare")
        for who in ("root", "uid 65534"):
            lat("batch", f"serve ({who})", "bare, 16 at a time", 1.5, "200 launches, 16 at a time", "≤ 1.5× bare")
            nfail = R.get("batch", {}).get("failed", {}).get(f"serve ({who})", 0)
            if nfail and rows and rows[-1]["subject"] == f"serve ({who})":
                total = R["batch"]["size"] * len(R["batch"]["times"][f"serve ({who})"])
                rows[-1]["subject"] += f": {nfail} of {total} runs failed"
                rows[-1]["met"] = False
        rs = R.get("rss")
        if rs and "rss_kib" in rs:
            mib = rs["rss_kib"] / 1024
            rows.append(dict(measure=f"supervisor RSS, {rs['agents']} sleeping agents",
                             subject="serve (root)" + (" — " + rs["error"][:80] if "error" in rs else ""),
                             med=f"{mib:.1f} MiB", p95=f"HWM {rs['hwm_kib'] / 1024:.1f} MiB",
                             base="serve idle", bmed=f"{rs['idle_rss_kib'] / 1024:.1f} MiB", bp95="",
                             ratio=f"{rs['rss_kib'] / rs['idle_rss_kib']:.2f}×", target="≤ 32 MiB",
                             met=mib <= 32 and "error" not in rs))
        elif rs and "error" in rs:
            rows.append(dict(measure="supervisor RSS", subject="failed: " + rs["error"][:120], med="", p95="",
                             base="", bmed="", bp95="", ratio="", target="≤ 32 MiB", met=False))
    g = R.get("stream")
    if g:
        gib = g["bytes"] / GIB
        base = g["order"][0]
        bs = g["times"][base]
        for who in ("root", "uid 65534"):
            subj = f"mpm-run ({who})"
            if subj not in g["times"]:
                continue
            xs = g["times"][subj]
            ratio = median(bs) / median(xs)
            rows.append(dict(measure=f"stdout relayed, {gib:g} GiB, redaction on", subject=subj,
                             med=f"{gib / (median(xs) / 1000):.2f} GiB/s", p95=f"{gib / (p95(xs) / 1000):.2f} GiB/s",
                             base=base, bmed=f"{gib / (median(bs) / 1000):.2f} GiB/s",
                             bp95=f"{gib / (p95(bs) / 1000):.2f} GiB/s", ratio=f"{ratio:.2f}×",
                             target="≥ 0.8× cat relaying", met=ratio >= 0.8))
    g = R.get("check")
    if g:
        subj, base = g["order"][1], g["order"][0]
        xs, bs = g["times"][subj], g["times"][base]
        rows.append(dict(measure=f"check over {g['agents']} agent files", subject="mpm-run check",
                         med=f"{median(xs) / 1000:.3f} s", p95=f"{p95(xs) / 1000:.3f} s", base=base,
                         bmed=f"{median(bs) / 1000:.3f} s", bp95=f"{p95(bs) / 1000:.3f} s",
                         ratio=f"{median(xs) / median(bs):.2f}×", target="≤ 0.5 s", met=median(xs) <= 500))
    return rows


def git_describe():
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no", "--", "Sources"],
                               capture_output=True, text=True).stdout.strip()
        return head + (" (Sources/ modified)" if dirty else "")
    except OSError:
        return "unknown"


def tool_version(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True)
        return (r.stdout or r.stderr).strip().splitlines()[0]
    except (OSError, IndexError):
        return "missing"


def loadavg():
    try:
        return float(open("/proc/loadavg").read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def doctor_cgroup_attach(binary):
    """What `mpm-run doctor` says of the move into a run's cgroups, which every root launch waits for."""
    try:
        out = subprocess.run([binary, "doctor", "--json"], capture_output=True, timeout=60).stdout
        for f in json.loads(out)["features"]:
            if f["name"] == "cgroup_attach":
                return f"{'ok' if f['available'] else 'slow' if f.get('fix') else 'info'}: {f['detail']}"
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
        pass
    return None


def write_markdown(R, path, png_name):
    a = R["args"]
    rows = summary_rows(R)
    L = []
    L.append("# mpm-run benchmarks")
    L.append("")
    L.append(f"Generated by `bench/run` on {R['date']}: mpm-run {R['commit']}, release build (static-pie, scripts/build-release); "
             f"Linux {platform.release()}, {os.cpu_count()} cores ({cpu_model()}), a shared machine. "
             f"{R['tools']}. Each ratio is against a baseline measured in the same run, interleaved "
             f"(the order shuffled every round). Whole bench: {R['elapsed']:.0f} s"
             + (f"; load average {R['load'][0]:.1f} at the start, {R['load'][1]:.1f} at the end "
                "(other work on the machine stretches every time, baselines alike)"
                if R.get("load") and None not in R["load"] else "") + ".")
    if R.get("cgroup_attach"):
        L.append("")
        L.append(f"The root rows include each run's move into its cgroups; `mpm-run doctor` said of it "
                 f"(`cgroup_attach`): {R['cgroup_attach']}.")
    L.append("")
    L.append(f"![launch latencies and throughputs]({png_name})")
    L.append("")
    L.append("| measure | mpm-run | median | p95 | baseline | median | p95 | ratio | target | |")
    L.append("|---|---|---:|---:|---|---:|---:|---:|---|---|")
    for r in rows:
        verdict = "" if r["met"] is None else ("met" if r["met"] else "**missed**")
        L.append(f"| {r['measure']} | {r['subject']} | {r['med']} | {r['p95']} | {r['base']} | {r['bmed']} | "
                 f"{r['bp95']} | {r['ratio']} | {r['target']} | {verdict} |")
    L.append("")
    L.append("Ratios: latency and RSS are mpm-run ÷ baseline (lower is better); throughput is "
             "mpm-run's GiB/s ÷ the baseline's (higher is better). For throughput the p95 column is "
             "the rate of the 95th-percentile (slow) trial.")
    L.append("")
    L.append("## Every command")
    for key, title, count in (("launch", "Cold launch of /bin/true", f"{a['rounds']} rounds"),
                              ("serve", "serve: `run` request to `run/exited`", f"{a['serve_rounds']} rounds"),
                              ("batch", f"{a['batch_size']} launches, {a['batch_width']} at a time", f"{a['batch_trials']} trials"),
                              ("stream", "stdout relayed (1 trial = the whole file)", f"{a['stream_trials']} trials"),
                              ("check", "check", f"{a['check_trials']} trials")):
        g = R.get(key)
        if not g:
            continue
        base = g["order"][0]
        L.append("")
        L.append(f"### {title} ({count}, times in ms)")
        L.append("")
        if key == "launch":
            L.append("| command | median | p95 | ratio to bare | argv |")
            L.append("|---|---:|---:|---:|---|")
        else:
            L.append(f"| command | median | p95 | ratio to {base} |")
            L.append("|---|---:|---:|---:|")
        for name in g["order"]:
            xs = g["times"][name]
            line = f"| {name} | {median(xs):.2f} | {p95(xs):.2f} | {median(xs) / median(g['times'][base]):.2f}× |"
            if key == "launch":
                line += f" `{g['argv'][name]}` |"
            L.append(line)
        if key == "launch" and g.get("history_records") is not None:
            L.append("")
            L.append("Each round gives the headline mpm-run rows an empty audit log. Every launch reads its "
                     "agent's records of the last 900 s (rate limit and quarantine), so the row with one "
                     f"log all along (0 to {g['history_records']} records by the end) shows what an agent's "
                     "recent launches add.")
        if key == "serve" and any(v is not None for v in R.get("serve", {}).get("audit_records", {}).values()):
            L.append("")
            L.append("One serve as root and one as uid 65534 answered all rounds, each with an audit log of its "
                     "own, which held "
                     + ", ".join(f"{v} ({k})" for k, v in R["serve"]["audit_records"].items())
                     + " records by the end. Each trial of the batch below has a new serve and an empty log.")
        if key == "stream":
            recv = ", ".join(f"{k}: {v} bytes" for k, v in g["received"].items())
            L.append("")
            L.append(f"Bytes received by the reader: {recv} (of {g['bytes']}).")
    rs = R.get("rss")
    if rs:
        L.append("")
        L.append(f"### serve with {rs['agents']} sleeping agents")
        L.append("")
        for k, label in (("idle_rss_kib", "VmRSS idle"), ("rss_kib", "VmRSS with the agents"),
                         ("hwm_kib", "VmHWM"), ("threads", "threads"), ("fds", "open fds"),
                         ("running", "runs `status` lists"), ("start_seconds", "seconds to start them all"),
                         ("failed_starts", "runs that failed to start (replaced)")):
            if k in rs:
                v = rs[k]
                v = f"{v / 1024:.1f} MiB" if k.endswith("kib") else (f"{v:.1f}" if isinstance(v, float) else v)
                L.append(f"- {label}: {v}")
        if "error" in rs:
            L.append(f"- failed: {rs['error']}")
    if R.get("serve_unavailable"):
        L.append("")
        L.append("serve: not available in this build (`mpm-run serve --help` failed), so the serve, "
                 "batch and RSS measures were skipped.")
    elif R.get("serve_error"):
        L.append("")
        L.append(f"serve failed: {R['serve_error']}")
    hf = R.get("hyperfine")
    if hf:
        L.append("")
        L.append(f"### Cross-check with hyperfine -N ({a['hyperfine_runs']} runs each, one command after the "
                 "other, not interleaved; times in ms)")
        L.append("")
        L.append("| command | median | p95 | ratio to bare | same ratio, harness's timer |")
        L.append("|---|---:|---:|---:|---:|")
        lt = R.get("launch", {}).get("times", {})
        for name, x in hf.items():
            ours = (f"{median(lt[name]) / median(lt['bare /bin/true']):.2f}×"
                    if name in lt and "bare /bin/true" in lt else "")
            L.append(f"| {name} | {x['median']:.2f} | {x['p95']:.2f} | "
                     f"{x['median'] / hf['bare /bin/true']['median']:.2f}× | {ours} |")
    if R.get("failures"):
        L.append("")
        L.append("### Failed launches (retried in the same slot; not in the times)")
        L.append("")
        for k, v in R["failures"].items():
            L.append(f"- {v}× {k}")
    L.append("")
    L.append("Reproduce: `bench/run` as root (`bench/run --help` for the repetition counts).")
    L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))


def write_chart(R, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    GREEN, RED, GREY, BLUE, TARGET = "#2e8b57", "#c0392b", "#9aa0a6", "#4a6fa5", "#d35400"
    fig, axes = plt.subplots(3, 2, figsize=(16, 13))
    fig.suptitle(f"mpm-run {R['commit']}, {R['date']}: bars are medians, whiskers reach the p95\n"
                 f"mpm-run green where it meets its target, red where it misses; baselines grey; "
                 f"targets dashed", fontsize=13)

    def bars(ax, names, meds, p95s, colors, unit, title, lines=(), fmt="{:.2f}", higher_better=False):
        y = list(range(len(names)))[::-1]
        ax.barh(y, meds, color=colors, height=0.62)
        if higher_better:   # the whisker reaches down to the slow trial's rate
            xerr = [[max(0.0, m - p) for m, p in zip(meds, p95s)], [0] * len(meds)]
        else:
            xerr = [[0] * len(meds), [max(0.0, p - m) for m, p in zip(meds, p95s)]]
        ax.errorbar(meds, y, xerr=xerr, fmt="none", ecolor="black", capsize=3, lw=1)
        ax.set_yticks(y)
        ax.set_yticklabels(names, fontsize=10.5)
        ax.set_title(title, fontsize=12, loc="left", fontweight="bold")
        ax.set_xlabel(unit)
        hi = max(max(meds), max(p95s), max((v for v, _ in lines), default=0))
        for yi, m, p in zip(y, meds, p95s):
            ax.text(max(m, p) if not higher_better else m, yi, "  " + fmt.format(m),
                    va="center", ha="left", fontsize=10)
        for i, (v, label) in enumerate(lines):
            ax.axvline(v, color=TARGET, ls=("--", ":")[i % 2], lw=1.6, label=label)
        if lines:
            ax.legend(loc="best", fontsize=9.5, framealpha=0.9)
        ax.set_xlim(0, hi * 1.25)
        ax.set_ylim(-0.6, len(names) - 0.4)
        ax.grid(axis="x", alpha=0.3)

    def skipped(ax, title, why):
        ax.set_title(title, fontsize=12, loc="left", fontweight="bold")
        ax.text(0.5, 0.5, why, ha="center", va="center", fontsize=13, color="#555555", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])

    serve_why = ("serve not available in this build" if R.get("serve_unavailable")
                 else "serve failed: see results.md" if R.get("serve_error") else "not measured in this run")

    # launch
    ax = axes[0][0]
    g = R.get("launch")
    if g:
        names = g["order"]
        meds = [median(g["times"][n]) for n in names]
        p95s = [p95(g["times"][n]) for n in names]
        bw = median(g["times"]["bubblewrap (root)"])
        colors = []
        for n, m in zip(names, meds):
            if n.startswith("mpm-run ("):
                who = n[n.index("(") + 1:-1]
                ref = median(g["times"].get(f"bubblewrap ({who})", g["times"]["bubblewrap (root)"]))
                colors.append(GREEN if m <= 0.6 * ref and m < 3.3 else RED)
            elif n == "mpm-run --version":
                colors.append(BLUE)
            else:
                colors.append(GREY)
        root = median(g["times"]["mpm-run (root)"])
        bars(ax, names, meds, p95s, colors, "ms per launch (lower is better)",
             f"Cold launch of /bin/true\nmpm-run (root) {root / bw:.1f}× bubblewrap (target ≤ 0.6×)",
             lines=[(0.6 * bw, "target: 0.6× bubblewrap (root)"), (3.3, "minijail's class: 3.3 ms")])
    else:
        skipped(ax, "Cold launch of /bin/true", "not measured")
    # serve latency
    ax = axes[0][1]
    g = R.get("serve")
    if g:
        names = g["order"]
        meds = [median(g["times"][n]) for n in names]
        p95s = [p95(g["times"][n]) for n in names]
        b = meds[0]
        colors = [GREY] + [GREEN if m <= 1.5 * b else RED for m in meds[1:]]
        bars(ax, names, meds, p95s, colors, "ms per run (lower is better)",
             f"serve, `run` → `run/exited`\n{meds[1] / b:.1f}× a bare spawn-and-wait (target ≤ 1.5×)",
             lines=[(1.5 * b, "target: 1.5× bare")])
    else:
        skipped(ax, "serve, `run` → `run/exited`", serve_why)
    # batch
    ax = axes[1][0]
    g = R.get("batch")
    if g:
        names = g["order"]
        meds = [median(g["times"][n]) for n in names]
        p95s = [p95(g["times"][n]) for n in names]
        b = meds[0]
        colors = [GREY] + [GREEN if m <= 1.5 * b else RED for m in meds[1:]]
        bars(ax, names, meds, p95s, colors, "ms for the whole batch (lower is better)",
             f"{g['size']} launches, {g['width']} at a time, through serve\n{meds[1] / b:.1f}× bare spawns (target ≤ 1.5×)",
             lines=[(1.5 * b, "target: 1.5× bare")], fmt="{:.0f}")
    else:
        skipped(ax, "200 launches, 16 at a time, through serve", serve_why)
    # stream
    ax = axes[1][1]
    g = R.get("stream")
    if g:
        gib = g["bytes"] / GIB
        names = g["order"]
        rates = [gib / (median(g["times"][n]) / 1000) for n in names]
        slow = [gib / (p95(g["times"][n]) / 1000) for n in names]
        b = rates[0]
        colors = [GREY] + [GREEN if r >= 0.8 * b else RED for r in rates[1:]]
        colors = [GREY if n.startswith("cat") else c for n, c in zip(names, colors)]
        bars(ax, names, rates, slow, colors, "GiB/s (higher is better; whisker down to the p95-slow trial)",
             f"stdout relayed, {gib:g} GiB, redaction on\nmpm-run (root) {rates[1] / b:.2f}× `cat | cat` (target ≥ 0.8×)",
             lines=[(0.8 * b, "target: 0.8× cat relaying a pipe")], higher_better=True)
    else:
        skipped(ax, "stdout relayed, redaction on", "not measured")
    # rss
    ax = axes[2][0]
    rs = R.get("rss")
    if rs and "rss_kib" in rs:
        names = ["serve, idle", f"serve, {rs['agents']} agents: RSS", f"serve, {rs['agents']} agents: peak (HWM)"]
        vals = [rs["idle_rss_kib"] / 1024, rs["rss_kib"] / 1024, rs["hwm_kib"] / 1024]
        colors = [GREY] + [GREEN if v <= 32 and "error" not in rs else RED for v in vals[1:]]
        bars(ax, names, vals, vals, colors, "MiB (lower is better)",
             f"Supervisor memory, {rs['agents']} sleeping agents\n{vals[1]:.1f} MiB (target ≤ 32 MiB)",
             lines=[(32, "target: 32 MiB")], fmt="{:.1f}")
    else:
        skipped(ax, "Supervisor memory, 1000 sleeping agents",
                "failed: see results.md" if rs else serve_why)
    # check
    ax = axes[2][1]
    g = R.get("check")
    if g:
        names = g["order"]
        meds = [median(g["times"][n]) / 1000 for n in names]
        p95s = [p95(g["times"][n]) / 1000 for n in names]
        colors = [BLUE, GREEN if meds[1] <= 0.5 else RED]
        bars(ax, names, meds, p95s, colors, "seconds (lower is better)",
             f"`mpm-run check`, {g['agents']} agent files\n{meds[1]:.3f} s (target ≤ 0.5 s)",
             lines=[(0.5, "target: 0.5 s")], fmt="{:.3f}")
    else:
        skipped(ax, "`mpm-run check`", "not measured")
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(path, dpi=80)


# ---------------------------------------------------------------- main

def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return worker_main()
    ap = argparse.ArgumentParser(
        prog="bench/run", description="mpm-run's benchmarks against bare spawns, bubblewrap and firejail, "
                                      "interleaved in one run; writes results.md and results.png.")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build-bench/release/mpm-run"), help=argparse.SUPPRESS)
    ap.add_argument("--out-dir", default=HERE, help="where results.md and results.png go (default: bench/)")
    ap.add_argument("--only", default="launch,serve,rss,stream,check,hyperfine",
                    help="comma-separated measures (default: all: launch,serve,rss,stream,check,hyperfine; "
                         "serve includes the 200-launch batch)")
    ap.add_argument("--rounds", type=int, default=100, help="cold-launch rounds (default 100)")
    ap.add_argument("--warmup", type=int, default=5, help="warm-up rounds, not counted (default 5)")
    ap.add_argument("--serve-rounds", type=int, default=100, help="serve request rounds (default 100)")
    ap.add_argument("--batch-trials", type=int, default=5, help="trials of the 200-launch batch (default 5)")
    ap.add_argument("--batch-size", type=int, default=200, help=argparse.SUPPRESS)
    ap.add_argument("--batch-width", type=int, default=16, help=argparse.SUPPRESS)
    ap.add_argument("--stream-trials", type=int, default=11, help="trials of the stream (default 11)")
    ap.add_argument("--stream-mib", type=int, default=1024, help="MiB streamed per trial (default 1024)")
    ap.add_argument("--rss-agents", type=int, default=1000, help="sleeping agents for the RSS measure (default 1000)")
    ap.add_argument("--rss-timeout", type=float, default=300, help="seconds allowed to start them (default 300)")
    ap.add_argument("--check-agents", type=int, default=1000, help="agent files for check (default 1000)")
    ap.add_argument("--check-trials", type=int, default=10, help="trials of check (default 10)")
    ap.add_argument("--hyperfine-runs", type=int, default=30, help="runs per command of the hyperfine "
                                                                     "cross-check (default 30; 0 skips it)")
    ap.add_argument("--no-nobody", action="store_true", help="skip the uid-65534 measures")
    ap.add_argument("--quick", action="store_true", help="a short smoke run: few rounds, 64 MiB streams, "
                                                         "100 sleeping agents, 100 agent files")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (in /tmp) for inspection")
    ap.add_argument("--from-json", metavar="FILE", help="measure nothing: write results.md and results.png "
                                                       "again from a results.json")
    if ap.parse_known_args()[0].quick:   # smaller defaults; options given still win
        ap.set_defaults(rounds=15, warmup=2, serve_rounds=15, batch_trials=2, stream_trials=2, stream_mib=64,
                        rss_agents=100, check_agents=100, check_trials=3, hyperfine_runs=5)
    a = ap.parse_args()
    if a.from_json:
        with open(a.from_json) as f:
            R = json.load(f)
        return write_results(R, a.out_dir)
    if os.geteuid() != 0:
        sys.exit("bench: run as root (it also measures mpm-run as uid 65534, and firejail as root)")
    if not os.access(a.binary, os.X_OK):
        sys.exit(f"bench: {a.binary} not found: run bench/run, which builds it")
    # Room for the fds of many runs at once, in this process and the serve it starts.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    only = set(a.only.split(","))
    s = Setting(a)
    R = {"args": vars(a), "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
         "commit": git_describe(),
         "tools": "; ".join(tool_version(x) for x in (["bwrap", "--version"], ["firejail", "--version"],
                                                       ["hyperfine", "--version"]))}
    R["load"] = [loadavg()]
    R["cgroup_attach"] = doctor_cgroup_attach(a.binary)
    t0 = time.monotonic()
    try:
        if "launch" in only:
            measure_launch(s, R)
        if "serve" in only:
            measure_serve(s, R)
        if "rss" in only:
            measure_rss(s, R)
        if "stream" in only:
            measure_stream(s, R)
        if "check" in only:
            measure_check(s, R)
        if "hyperfine" in only:
            measure_hyperfine(s, R)
    finally:
        if a.keep:
            log(f"work folder kept: {s.work}")
        else:
            s.cleanup()
    R["load"].append(loadavg())
    R["elapsed"] = time.monotonic() - t0
    R["failures"] = FAILURES
    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "results.json"), "w") as f:
        json.dump(R, f, indent=1)
    write_results(R, a.out_dir)


def write_results(R, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    md, png = os.path.join(out_dir, "results.md"), os.path.join(out_dir, "results.png")
    write_chart(R, png)
    write_markdown(R, md, "results.png")
    print(open(md).read().split("\n## Every command")[0])
    print(f"wrote {md}, {png}")


if __name__ == "__main__":
    main()
