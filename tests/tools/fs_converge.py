#!/usr/bin/env python3
"""fs_converge.py - the randomized convergence test (in the spirit of Jepsen).

A seeded run builds a replication tree on 127.0.0.1 with the real binaries:

    province KT
      district KT.D1        district KT.D2
        commune KT.D1.C1      commune KT.D2.C3
        commune KT.D1.C2      commune KT.D2.C4      (--communes 3: no C4)

Every link to a parent goes through an fs_relay ("up-NAME"), and the laptops
of a commune reach it through another one ("lan-NAME"), so any link can be
cut (connections reset, new ones refused), stalled (open but silent), cut in
the middle of traffic, or flapped. Each commune has --laptops real
`fieldsync` device directories that share records: they create patrols,
edit the same fields of the same records (every value a unique token) and
delete them, offline, and sync at random moments; some syncs are kill -9ed.
Meanwhile a fault schedule, drawn from the seed before the run starts,
kill -9s servers of every level and restarts them, stops them with SIGTERM
(each must exit 0 within 10 s) and cuts, stalls, arms and flaps the links.

Then the faults heal (links restored, servers restarted) and it checks:
  - no server died by itself, no sanitizer report in any log;
  - every laptop syncs until its outbox is empty;
  - every node holds exactly the change sets of the laptops below it
    (change_sets = log_seq = the laptops' seqs: nothing lost, nothing stored
    twice), nothing held, nothing quarantined;
  - every edit's value appears in exactly one change set at the province,
    in particular every edit acknowledged during the faults (an edit counts
    as acknowledged once a sync left the laptop with nothing pending and an
    empty outbox after it);
  - the province's merged records equal what this script's own model of
    the join (per-field last writer wins on (hlc, device key), tombstones,
    revival) computes from those change sets (fs_storetool sets);
  - area digests agree at every level (commune, its district, the province)
    and on every laptop after a final pull.
A failure prints `SEED=N to repeat` with the command, and keeps the files.

Usage:
  fs_converge.py --work DIR --seed N [--seconds S] [--communes 3|4] [--laptops L]
Binaries come from $FIELDSYNCD $FIELDSYNC $FS_TESTPEER $FS_RELAY $FS_STORETOOL,
or from --build DIR (a CMake build directory). Exit 0: converged; 1: a check
failed; 2: the run itself could not be set up.

The seed fixes the fault schedule and every laptop's choices; how those
interleave with the servers' timing is up to the machine, so a failing seed
may need a few runs to fail again.
"""
import argparse
import heapq
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time


class Fail(Exception):
    """A check failed: the system under test misbehaved."""


class SetupError(Exception):
    """The run could not be set up (a tool failed before any fault)."""


T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:7.2f}s] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Bins:
    NAMES = {"FIELDSYNCD": "server/fieldsyncd", "FIELDSYNC": "client/fieldsync",
             "FS_TESTPEER": "tests/tools/fs_testpeer", "FS_RELAY": "tests/tools/fs_relay",
             "FS_STORETOOL": "tests/tools/fs_storetool"}

    def __init__(self, build):
        for var, rel in self.NAMES.items():
            path = os.environ.get(var) or (os.path.join(build, rel) if build else "")
            if not path or not os.access(path, os.X_OK):
                raise SetupError(f"${var} must name the built binary (or pass --build DIR)")
            setattr(self, var.lower(), path)


def run(cmd, timeout=120, check=True, what=None):
    """Runs a tool to completion; returns (rc, stdout, stderr)."""
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Fail(f"{what or cmd[0]} did not finish within {timeout} s: {' '.join(cmd)}")
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    if check and p.returncode != 0:
        raise Fail(f"{what or ' '.join(cmd)} failed with status {p.returncode}: "
                   f"{err.strip()[:500]}")
    return p.returncode, out, err


def kv(line, key):
    for w in line.split():
        if w.startswith(key + "="):
            return w[len(key) + 1:]
    return None


# ------------------------------------------------------------------ the tree

class Node:
    def __init__(self, name, area, parent, level):
        self.name, self.area, self.parent, self.level = name, area, parent, level
        self.port = None
        self.proc = None
        self.down_since = None   # killed or stopped by the schedule
        self.starts = 0


class Relay:
    def __init__(self, name, target):
        self.name, self.target = name, target  # target: a Node
        self.proc = None
        self.port = None


class Laptop:
    def __init__(self, name, commune, index):
        self.name, self.commune, self.index = name, commune, index
        self.dir = None
        self.edits = []          # tokens in the order written
        self.acked = 0           # len(edits) when a sync last left the outbox empty
        self.acked_during = 0    # acked when the faults ended
        self.known = set()       # visible record ids after its last sync (and own edits)
        self.sync = None         # running sync: (Popen, started, edits at start)
        self.counter = 0
        self.seq = 0


class Cluster:
    def __init__(self, args, bins):
        self.a, self.b = args, bins
        self.w = args.work
        self.nodes = {}
        self.relays = {}
        self.laptops = []
        self.tokens = {}         # token -> (laptop, record id, field)
        self.deletes = []        # (laptop, record id)
        self.stats = dict(edits=0, adds=0, deletes=0, bulk=0, refused_edits=0,
                          syncs=0, syncs_ok=0, syncs_failed=0, syncs_killed=0,
                          kill9=0, sigterm=0, cuts=0, stalls=0, arms=0, flaps=0)
        self.procs = []          # everything started, for the final cleanup

    # -------------------------------------------------------------- processes

    def spawn(self, cmd, logname, stdout=subprocess.DEVNULL):
        f = open(os.path.join(self.w, logname), "ab")
        p = subprocess.Popen(cmd, stdout=stdout, stderr=f, stdin=subprocess.DEVNULL)
        f.close()
        self.procs.append(p)
        return p

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    # -------------------------------------------------------------- deployment

    def setup(self):
        b = self.b
        os.makedirs(self.w, exist_ok=True)
        _, out, _ = run([b.fieldsyncd, "admin", "init", "--dir", f"{self.w}/admin"],
                        what="fieldsyncd admin init")
        self.root = out.strip().split()[0]
        ncommunes = self.a.communes
        self.add_node("p", "KT", None, "province")
        for d in (1, 2):
            self.add_node(f"d{d}", f"KT.D{d}", "p", "district")
        for c in range(1, ncommunes + 1):
            d = 1 if c <= 2 else 2
            self.add_node(f"c{c}", f"KT.D{d}.C{c}", f"d{d}", "commune")
        # Start top-down: a relay needs its target's port, a child its relay's.
        for n in self.nodes.values():
            if n.parent:
                self.start_relay(f"up-{n.name}", self.nodes[n.parent])
            self.write_config(n)
            self.start_node(n)
            if n.level == "commune":
                self.start_relay(f"lan-{n.name}", n)
        i = 0
        for n in self.nodes.values():
            if n.level != "commune":
                continue
            for k in range(self.a.laptops):
                lap = Laptop(f"{n.name}l{k + 1}", n, i)
                i += 1
                self.make_laptop(lap)
                self.laptops.append(lap)
        log(f"tree up: {len(self.nodes)} nodes, {len(self.relays)} relays, "
            f"{len(self.laptops)} laptops")

    def add_node(self, name, area, parent, level):
        self.nodes[name] = Node(name, area, parent, level)

    def write_config(self, n):
        b, w = self.b, self.w
        run([b.fieldsyncd, "keygen", "--key", f"{w}/{n.name}.key", "--comment", n.name])
        cmd = [b.fieldsyncd, "admin", "certify-node", "--admin-key", f"{w}/admin/root.key",
               "--key", f"{w}/{n.name}.key.pub", "--id", n.name, "--area", n.area,
               "--level", n.level, "--out", f"{w}/{n.name}.cert"]
        if n.parent:
            cmd += ["--parent", f"{w}/{n.parent}.key.pub"]
        run(cmd)
        lines = ["[node]", f"id = {n.name}", f"area = {n.area}", f"data = {w}/{n.name}.data",
                 f"key = {w}/{n.name}.key", f"cert = {w}/{n.name}.cert",
                 f"network_key = {w}/admin/network.key", f"root_key = {self.root}",
                 "listen = 127.0.0.1:1"]
        if n.parent:
            lines.append(f"parent = 127.0.0.1:{self.relays['up-' + n.name].port}")
        with open(f"{w}/{n.name}.ini", "w") as f:
            f.write("\n".join(lines) + "\n")

    def start_node(self, n):
        """Starts (or restarts, on the same port) a node; waits until it listens."""
        logpath = f"{self.w}/{n.name}.log"
        for attempt in range(5):
            port = n.port or free_port()
            with open(logpath, "a") as f:
                f.write(f"### start {time.strftime('%T')} port={port}\n")
            before = os.path.getsize(logpath)
            p = self.spawn([self.b.fieldsyncd, "run", "--config", f"{self.w}/{n.name}.ini",
                            "--listen", f"127.0.0.1:{port}"], f"{n.name}.log")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and p.poll() is None:
                with open(logpath, "rb") as f:
                    f.seek(before)
                    started = b"event=server.started" in f.read()
                if started and port_open(port):
                    n.port, n.proc, n.down_since = port, p, None
                    n.starts += 1
                    return
                time.sleep(0.05)
            if p.poll() is None:
                p.kill()
                p.wait()
                raise Fail(f"node {n.name} did not start listening on {port} within 30 s")
            with open(logpath, "rb") as f:
                f.seek(before)
                tail = f.read().decode(errors="replace")
            if "EADDRINUSE" in tail:
                time.sleep(0.5)
                continue
            raise Fail(f"node {n.name} exited during start-up (status {p.returncode}): "
                       f"{tail.strip()[-400:]}")
        raise Fail(f"node {n.name}: no usable port after 5 attempts")

    def start_relay(self, name, target):
        r = Relay(name, target)
        out = f"{self.w}/{name}.out"
        with open(out, "wb") as f:
            r.proc = subprocess.Popen([self.b.fs_relay, "--listen", "0", "--target",
                                       str(target.port), "--cut-bytes", "40000"],
                                      stdout=f, stderr=open(f"{self.w}/{name}.log", "ab"),
                                      stdin=subprocess.DEVNULL)
        self.procs.append(r.proc)
        for _ in range(100):
            with open(out) as f:
                text = f.read()
            if text.startswith("listening 127.0.0.1:"):
                r.port = int(text.split(":")[1])
                break
            if r.proc.poll() is not None:
                raise SetupError(f"fs_relay {name} exited at start")
            time.sleep(0.05)
        else:
            raise SetupError(f"fs_relay {name} did not start listening")
        self.relays[name] = r

    def make_laptop(self, lap):
        b, w = self.b, self.w
        lap.dir = f"{w}/{lap.name}"
        _, out, _ = run([b.fieldsync, "init", "--dir", lap.dir, "--area", lap.commune.area,
                         "--officer", f"Cán bộ {lap.name}"])
        key = out.strip()
        run([b.fieldsyncd, "admin", "enrol", "--admin-key", f"{w}/admin/root.key",
             "--device", key, "--officer", f"Cán bộ {lap.name}", "--officer-id",
             f"CA-{lap.name}", "--area", lap.commune.area, "--out", f"{w}/{lap.name}.cert"])
        run([b.fieldsync, "enrol", "--dir", lap.dir, "--cert", f"{w}/{lap.name}.cert",
             "--network-key", f"{w}/admin/network.key", "--root", self.root,
             "--seal-key", f"{w}/admin/seal.key.pub"])

    # ------------------------------------------------------------- liveness

    def check_alive(self):
        for n in self.nodes.values():
            if n.proc is not None and n.down_since is None and n.proc.poll() is not None:
                raise Fail(f"node {n.name} died by itself: exit status {n.proc.returncode}"
                           f"{' (SIGPIPE)' if n.proc.returncode == 141 else ''}; "
                           f"see {self.w}/{n.name}.log")
        for r in self.relays.values():
            if r.proc.poll() is not None:
                raise SetupError(f"fs_relay {r.name} exited (status {r.proc.returncode})")

    # --------------------------------------------------------------- faults

    def kill9(self, n):
        if n.down_since is not None:
            return False
        n.proc.send_signal(signal.SIGKILL)
        n.proc.wait()
        n.down_since = time.monotonic()
        with open(f"{self.w}/{n.name}.log", "a") as f:
            f.write(f"### killed with SIGKILL {time.strftime('%T')}\n")
        self.stats["kill9"] += 1
        return True

    def sigterm(self, n):
        """SIGTERM: the node must finish what is in flight and exit 0 within 10 s."""
        if n.down_since is not None:
            return False
        t = time.monotonic()
        n.proc.send_signal(signal.SIGTERM)
        try:
            rc = n.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            raise Fail(f"node {n.name} did not exit within 10 s of SIGTERM")
        if rc != 0:
            raise Fail(f"node {n.name} exited with status {rc} after SIGTERM")
        n.down_since = time.monotonic()
        self.stats["sigterm"] += 1
        self.stats["sigterm_max_s"] = max(self.stats.get("sigterm_max_s", 0.0),
                                          round(time.monotonic() - t, 2))
        return True

    def relay_signal(self, r, sig):
        r.proc.send_signal(sig)

    # -------------------------------------------------------------- laptops

    def fs(self, lap, *args, check=True, timeout=60):
        return run([self.b.fieldsync, args[0], "--dir", lap.dir, *args[1:]], check=check,
                   timeout=timeout, what=f"fieldsync {args[0]} on {lap.name}")

    def token(self, lap, rec, field):
        lap.counter += 1
        t = f"t{lap.index}n{lap.counter}"
        self.tokens[t] = (lap.name, rec, field)
        return t

    def laptop_op(self, lap, rng):
        """One offline edit on an idle laptop: add, edit or delete a shared
        record, or now and then a burst of bulk edits."""
        known = sorted(lap.known)
        x = rng.random()
        if x < 0.015:
            count = rng.randint(50, 400)
            run([self.b.fs_testpeer, "edits", "--dir", lap.dir, "--count", str(count),
                 "--records", "30"], what=f"bulk edits on {lap.name}")
            self.stats["bulk"] += count
            lap.known.update(f"bulk{i:05d}" for i in range(min(count, 30)))
            return
        if x < 0.18 or not known:
            rec = f"r{lap.index:02d}x{lap.counter + 1:06d}"
            toks = [self.token(lap, rec, f) for f in ("route", "notes", "members")]
            self.fs(lap, "add", "--type", "patrol", "--id", rec, "start=2026-11-20T20:00",
                    "end=2026-11-20T23:30", f"route={toks[0]}", f"notes={toks[1]}",
                    f"members={toks[2]}")
            lap.edits += toks
            lap.known.add(rec)
            self.stats["adds"] += 1
            return
        rec = rng.choice(known)
        if x < 0.26:
            rc, _, err = self.fs(lap, "delete", rec, check=False)
            if rc == 0:
                self.deletes.append((lap.name, rec))
                lap.known.discard(rec)
                self.stats["deletes"] += 1
            elif "is deleted" in err or "no record" in err:
                lap.known.discard(rec)
                self.stats["refused_edits"] += 1
            else:
                raise Fail(f"fieldsync delete {rec} on {lap.name} failed: {err.strip()}")
            return
        fields = rng.sample(["notes", "members", "route"], rng.randint(1, 2))
        toks = {f: self.token(lap, rec, f) for f in fields}
        rc, _, err = self.fs(lap, "edit", rec, *[f"{f}={t}" for f, t in toks.items()],
                             check=False)
        if rc == 0:
            lap.edits += list(toks.values())
            self.stats["edits"] += 1
        elif "is deleted" in err or "no record" in err:
            for t in toks.values():  # refused on the laptop: no change set was made
                del self.tokens[t]
            lap.known.discard(rec)
            self.stats["refused_edits"] += 1
        else:
            raise Fail(f"fieldsync edit {rec} on {lap.name} failed: {err.strip()}")

    def start_sync(self, lap, kill_after=None):
        addr = f"127.0.0.1:{self.relays['lan-' + lap.commune.name].port}"
        out = open(f"{self.w}/{lap.name}.sync", "ab")
        p = subprocess.Popen([self.b.fieldsync, "sync", "--dir", lap.dir, "--server", addr],
                             stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        out.close()
        self.procs.append(p)
        lap.sync = (p, time.monotonic(), len(lap.edits), None)
        self.stats["syncs"] += 1
        if kill_after is not None:
            # The laptop's power cut: most syncs take tens of milliseconds,
            # so it is timed here rather than by the loop.
            time.sleep(kill_after)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                if p.wait() == -signal.SIGKILL:
                    self.stats["syncs_killed"] += 1

    def status(self, lap):
        """(edits not yet acknowledged: pending ones and sealed sets in the
        outbox, change sets sealed so far)."""
        _, out, _ = self.fs(lap, "status")
        return int(kv(out, "outbox")) + int(kv(out, "pending") or 0), int(kv(out, "seq"))

    def refresh_known(self, lap):
        _, out, _ = self.fs(lap, "list")
        lap.known = {line.split()[1] for line in out.splitlines() if line.strip()}

    def reap_sync(self, lap, now):
        p, started, nedits, _ = lap.sync
        if p.poll() is None:
            if now - started > 120:
                raise Fail(f"the sync of {lap.name} ran for over 120 s")
            else:
                return
        elif p.returncode == 0:
            self.stats["syncs_ok"] += 1
        elif p.returncode > 0:
            self.stats["syncs_failed"] += 1
        if p.returncode == 0 and not open(f"{self.w}/{lap.name}.sync").read().rstrip() \
                .splitlines()[-1].startswith("synced with "):
            raise Fail(f"the sync of {lap.name} exited 0 without its summary line")
        lap.sync = None
        outbox, lap.seq = self.status(lap)
        if outbox == 0:
            lap.acked = nedits
        self.refresh_known(lap)

    # ---------------------------------------------------------- reading nodes

    def node_status(self, n):
        _, out, _ = run([self.b.fieldsyncd, "status", "--data", f"{self.w}/{n.name}.data"],
                        what=f"fieldsyncd status of {n.name}")
        return {k: int(kv(out, k)) for k in ("change_sets", "log_seq", "quarantined",
                                             "devices", "records")}

    def digest(self, data, area):
        _, out, _ = run([self.b.fieldsyncd, "digest", "--data", data, "--area", area])
        return " ".join(out.split()[:2])

    def laptop_digest(self, lap):
        _, out, _ = self.fs(lap, "digest", "--area", lap.commune.area)
        return " ".join(out.split()[:2])


# -------------------------------------------------------------- the schedule

def fault_schedule(rng, seconds, cluster):
    """Every fault of the run, drawn from the seed before it starts:
    (time, kind, target, duration)."""
    nodes = list(cluster.nodes)
    relays = list(cluster.relays)
    events = []
    t = rng.uniform(0.5, 1.5)
    while t < seconds:
        x = rng.random()
        if x < 0.30:
            # Communes go down most, the province least, but every level does.
            name = rng.choice(nodes + [n for n in nodes if n.startswith("c")])
            events.append((t, "kill9", name, rng.uniform(0.2, 3.0)))
        elif x < 0.40:
            events.append((t, "sigterm", rng.choice(nodes), rng.uniform(0.2, 2.0)))
        elif x < 0.60:
            events.append((t, "cut", rng.choice(relays), rng.uniform(0.3, 4.0)))
        elif x < 0.72:
            events.append((t, "stall", rng.choice(relays), rng.uniform(0.5, 6.0)))
        elif x < 0.87:
            events.append((t, "arm", rng.choice(relays), 0.0))
        else:
            events.append((t, "flap", rng.choice(relays), rng.uniform(0.2, 0.6)))
        t += rng.expovariate(1.0 / 1.2)
    return events


def chaos(cl, seed, seconds):
    frng = random.Random(seed * 1000003 + 1)
    lrng = random.Random(seed * 1000003 + 2)
    schedule = fault_schedule(frng, seconds, cl)
    log(f"chaos for {seconds} s: {len(schedule)} faults scheduled")
    start = time.monotonic()
    pending = []  # heap of (time, seq, kind, name)
    seqno = 0
    for t, kind, name, dur in schedule:
        heapq.heappush(pending, (start + t, seqno, kind, name, dur))
        seqno += 1
    while True:
        now = time.monotonic()
        if now - start >= seconds:
            break
        while pending and pending[0][0] <= now:
            _, _, kind, name, dur = heapq.heappop(pending)
            seqno += 1
            follow = do_fault(cl, kind, name, dur, now)
            if follow:
                for t, k in follow:
                    heapq.heappush(pending, (t, seqno, k, name, 0.0))
                    seqno += 1
        cl.check_alive()
        for lap in cl.laptops:
            if lap.sync:
                cl.reap_sync(lap, now)
        idle = [lap for lap in cl.laptops if not lap.sync]
        if idle:
            lap = lrng.choice(idle)
            if lrng.random() < 0.22:
                kill = lrng.uniform(0.0, 0.015) if lrng.random() < 0.2 else None
                cl.start_sync(lap, kill)
            else:
                cl.laptop_op(lap, lrng)
        time.sleep(lrng.uniform(0.0, 0.03))
    # What is still pending are the ends of faults: healing does them all.


def do_fault(cl, kind, name, dur, now):
    """Applies one fault; returns follow-up events [(time, kind)]."""
    if kind in ("kill9", "sigterm"):
        n = cl.nodes[name]
        down = sum(1 for x in cl.nodes.values() if x.down_since is not None)
        if n.down_since is not None or down >= 2:
            return []
        ok = cl.kill9(n) if kind == "kill9" else cl.sigterm(n)
        log(f"fault: {kind} {name}, back in {dur:.1f} s")
        return [(now + dur, "restart")] if ok else []
    if kind == "restart":
        n = cl.nodes[name]
        if n.down_since is not None:
            cl.start_node(n)
            log(f"restarted {name}")
        return []
    r = cl.relays.get(name)
    if kind == "cut":
        cl.relay_signal(r, signal.SIGUSR1)
        cl.stats["cuts"] += 1
        log(f"fault: cut {name} for {dur:.1f} s")
        return [(now + dur, "resume")]
    if kind == "stall":
        cl.relay_signal(r, signal.SIGWINCH)
        cl.stats["stalls"] += 1
        log(f"fault: stall {name} for {dur:.1f} s")
        return [(now + dur, "resume")]
    if kind == "arm":
        cl.relay_signal(r, signal.SIGHUP)
        cl.stats["arms"] += 1
        log(f"fault: {name} cut after 40000 more bytes up")
        return []
    if kind == "flap":
        cl.stats["flaps"] += 1
        log(f"fault: flap {name} every {dur:.1f} s")
        out = []
        for i in range(4):
            out.append((now + 2 * i * dur, "cut1"))
            out.append((now + (2 * i + 1) * dur, "resume"))
        return out
    if kind == "cut1":
        cl.relay_signal(r, signal.SIGUSR1)
        return []
    if kind == "resume":
        cl.relay_signal(r, signal.SIGUSR2)
        return []
    raise SetupError(f"unknown fault {kind}")


# ------------------------------------------------------------------ healing

def heal(cl):
    log("healing: every link restored, every node running")
    for r in cl.relays.values():
        cl.relay_signal(r, signal.SIGUSR2)
    for n in cl.nodes.values():
        if n.down_since is not None:
            cl.start_node(n)
    deadline = time.monotonic() + 150
    for lap in cl.laptops:
        while lap.sync:
            cl.reap_sync(lap, time.monotonic())
            time.sleep(0.05)
            if time.monotonic() > deadline:
                raise Fail(f"the sync of {lap.name} did not end after healing")
    time.sleep(0.3)  # the relays listen again
    for lap in cl.laptops:
        for attempt in range(40):
            cl.check_alive()
            rc, out, err = cl.fs(lap, "sync", "--server",
                                 f"127.0.0.1:{cl.relays['lan-' + lap.commune.name].port}",
                                 check=False)
            outbox, lap.seq = cl.status(lap)
            if rc == 0 and outbox == 0:
                lap.acked = len(lap.edits)
                break
            time.sleep(0.5)
        else:
            raise Fail(f"laptop {lap.name} could not empty its outbox after healing: "
                       f"{err.strip()}")


def expected_sets(cl, n):
    """Change sets of the laptops at or below node n."""
    return sum(lap.seq for lap in cl.laptops
               if lap.commune.area == n.area or lap.commune.area.startswith(n.area + "."))


def wait_replicated(cl, limit):
    deadline = time.monotonic() + limit
    while True:
        cl.check_alive()
        behind = []
        for n in cl.nodes.values():
            st = cl.node_status(n)
            want = expected_sets(cl, n)
            if st["change_sets"] != want:
                behind.append(f"{n.name} {st['change_sets']}/{want}")
        if not behind:
            return
        if time.monotonic() > deadline:
            raise Fail(f"replication did not complete within {limit} s: {', '.join(behind)}")
        time.sleep(0.5)


def wait_digests(cl, limit):
    """Every area's digest agrees at its node and every node above it."""
    deadline = time.monotonic() + limit
    while True:
        bad = []
        for n in cl.nodes.values():
            holders = [n]
            while holders[-1].parent:
                holders.append(cl.nodes[holders[-1].parent])
            ds = {h.name: cl.digest(f"{cl.w}/{h.name}.data", n.area) for h in holders}
            if len(set(ds.values())) != 1:
                bad.append(f"{n.area}: {ds}")
        if not bad:
            return
        if time.monotonic() > deadline:
            raise Fail("area digests disagree:\n  " + "\n  ".join(bad))
        time.sleep(0.5)


# ------------------------------------------------------------ the model

def clock_key(hlc, dev):
    return (hlc, dev)  # lower-case hex orders like the key bytes


def value_text(v):
    """fs_value_print of common/view.c, as bytes."""
    quote = len(v) == 0 or any(c <= 0x20 or c in (0x22, 0x5C, 0x7F) for c in v)
    out = bytearray(b'"' if quote else b"")
    for c in v:
        if c in (0x22, 0x5C):
            out += b"\\" + bytes([c])
        elif c == 0x0A:
            out += b"\\n"
        elif c < 0x20 or c == 0x7F:
            out += b"\\x%02x" % c
        else:
            out.append(c)
    if quote:
        out += b'"'
    return bytes(out)


def model_records(sets_text):
    """Joins every change of `fs_storetool sets` output the way docs/PROTOCOL.md
    and common/merge.h describe it; returns ({(area, id): line bytes},
    [every written value], summary dict)."""
    recs = {}
    values = []
    summary = {}
    for line in sets_text.splitlines():
        if line.startswith("total "):
            summary = {k: int(kv(line, k)) for k in ("sets", "held", "quarantined")}
            continue
        f = dict(w.split("=", 1) for w in line.split()[1:])
        dev, hlc = f["dev"], int(f["hlc"])
        r = recs.setdefault((f["area"], f["id"]),
                            {"type": None, "del": (0, ""), "fields": {}})
        if f["type"] != "-":
            cand = (clock_key(hlc, dev), f["type"])
            if r["type"] is None or cand > r["type"]:
                r["type"] = cand
        if f["del"] == "1" and clock_key(hlc, dev) > r["del"]:
            r["del"] = clock_key(hlc, dev)
        if f["writes"]:
            for wr in f["writes"].split(","):
                name, whlc, base, hexv = wr.split(":")
                v = bytes.fromhex(hexv)
                values.append(v)
                cand = (clock_key(int(whlc), dev), len(v), v, int(base))
                cur = r["fields"].get(name)
                if cur is None or cand > cur:
                    r["fields"][name] = cand
    lines = {}
    for (area, rid), r in recs.items():
        d = r["del"]

        def shown(clock):
            return d[0] == 0 or clock > d
        visible = (d[0] == 0 or (r["type"] is not None and shown(r["type"][0]))
                   or any(shown(c[0]) for c in r["fields"].values()))
        out = f"{area} {rid} {r['type'][1] if r['type'] else '-'}".encode()
        if not visible:
            out += b" deleted"
        for name in sorted(r["fields"], key=lambda s: s.encode()):
            c = r["fields"][name]
            if shown(c[0]):
                out += b" " + name.encode() + b"=" + value_text(c[2])
        lines[(area, rid)] = out
    return lines, values, summary


def check(cl):
    # Counts at every level: nothing lost, nothing stored twice.
    for n in cl.nodes.values():
        st = cl.node_status(n)
        want = expected_sets(cl, n)
        if st["change_sets"] != want or st["log_seq"] != want:
            raise Fail(f"{n.name}: change_sets={st['change_sets']} log_seq={st['log_seq']}, "
                       f"the laptops below it made {want}")
        if st["quarantined"]:
            raise Fail(f"{n.name}: {st['quarantined']} change sets quarantined")
    p = cl.nodes["p"]
    _, sets_text, _ = run([cl.b.fs_storetool, "sets", "--data", f"{cl.w}/p.data"],
                          what="fs_storetool sets")
    with open(f"{cl.w}/province-sets.txt", "w") as f:
        f.write(sets_text)
    model, values, summary = model_records(sets_text)
    if summary.get("held") or summary.get("quarantined"):
        raise Fail(f"the province still holds sets behind a gap or in quarantine: {summary}")
    # Every edit's value, exactly once.
    seen = {}
    for v in values:
        seen[v] = seen.get(v, 0) + 1
    acked_during = sum(lap.acked_during for lap in cl.laptops)
    for lap in cl.laptops:
        for i, t in enumerate(lap.edits):
            c = seen.get(t.encode(), 0)
            if c != 1:
                when = "acknowledged during the faults" if i < lap.acked_during else "made"
                raise Fail(f"edit {t} ({when} on {lap.name}: record {cl.tokens[t][1]} "
                           f"field {cl.tokens[t][2]}) is in {c} change sets at the province")
    # The province's merge equals the model's.
    _, rec_text, _ = run([cl.b.fieldsyncd, "records", "--all", "--data", f"{cl.w}/p.data"])
    got = {}
    for line in rec_text.encode().splitlines():
        w = line.split(b" ", 2)
        got[(w[0].decode(), w[1].decode())] = line
    if set(got) != set(model):
        missing = sorted(set(model) - set(got))[:5]
        extra = sorted(set(got) - set(model))[:5]
        raise Fail(f"the province's records differ from the model's: missing {missing}, "
                   f"unexpected {extra}")
    for k, line in model.items():
        if got[k] != line:
            raise Fail(f"record {k} at the province:\n  got   {got[k].decode()}\n"
                       f"  model {line.decode()}")
    # Digests at every level, then on every laptop after a final pull.
    wait_digests(cl, 60)
    for lap in cl.laptops:
        cl.fs(lap, "sync", "--server",
              f"127.0.0.1:{cl.relays['lan-' + lap.commune.name].port}")
        mine = cl.laptop_digest(lap)
        theirs = cl.digest(f"{cl.w}/p.data", lap.commune.area)
        if mine != theirs:
            raise Fail(f"laptop {lap.name} digest {mine} differs from the province's {theirs}")
    # Sanitizer reports anywhere are failures too.
    for n in cl.nodes.values():
        with open(f"{cl.w}/{n.name}.log", errors="replace") as f:
            text = f.read()
        if "Sanitizer" in text and "ERROR:" in text or "runtime error:" in text:
            raise Fail(f"sanitizer report in {n.name}.log")
    return len(model), len(values), acked_during


def run_seed(args, bins):
    cl = Cluster(args, bins)
    try:
        cl.setup()
        chaos(cl, args.seed, args.seconds)
        for lap in cl.laptops:
            lap.acked_during = lap.acked
        heal(cl)
        wait_replicated(cl, 150)
        nrec, nvalues, acked_during = check(cl)
        total = sum(lap.seq for lap in cl.laptops)
        edits = sum(len(lap.edits) for lap in cl.laptops)
        s = cl.stats
        log(f"converged: seed {args.seed}, {args.seconds} s of faults; {total} change sets, "
            f"{edits} tracked field writes ({acked_during} acknowledged during the faults), "
            f"{s['bulk']} bulk edits, {nrec} records, {s['deletes']} deletes; "
            f"{s['syncs']} syncs ({s['syncs_ok']} ok, {s['syncs_failed']} failed, "
            f"{s['syncs_killed']} killed); kill -9 {s['kill9']}, SIGTERM {s['sigterm']} "
            f"(slowest exit {s.get('sigterm_max_s', 0)} s), cuts {s['cuts']}, stalls "
            f"{s['stalls']}, mid-traffic cuts armed {s['arms']}, flaps {s['flaps']}; "
            f"node starts {sum(n.starts for n in cl.nodes.values())}")
        for n in cl.nodes.values():
            n.proc.send_signal(signal.SIGTERM)
            if n.proc.wait(timeout=20) != 0:
                raise Fail(f"node {n.name} exited with status {n.proc.returncode} at the end")
    finally:
        cl.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, help="directory for this run (made)")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--communes", type=int, default=4, choices=(3, 4))
    ap.add_argument("--laptops", type=int, default=3, help="per commune")
    ap.add_argument("--build", default="", help="CMake build directory with the binaries")
    args = ap.parse_args()
    repeat = (f"{sys.argv[0]} --work {args.work}.again --seed {args.seed} --seconds "
              f"{args.seconds:g} --communes {args.communes} --laptops {args.laptops}"
              + (f" --build {args.build}" if args.build else ""))
    try:
        bins = Bins(args.build)
        run_seed(args, bins)
    except Fail as e:
        log(f"FAIL: {e}")
        print(f"SEED={args.seed} to repeat: {repeat}   (files kept in {args.work})",
              flush=True)
        return 1
    except SetupError as e:
        log(f"cannot run: {e}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
