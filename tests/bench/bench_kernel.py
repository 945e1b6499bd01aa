#!/usr/bin/python3
"""bench_kernel.py: tandem-lua against ipykernel, same machine, same run, loopback TCP.

Not a test (CTest does not run it). Each kernel is launched from its kernelspec argv with a
connection file written here, and driven by a minimal signed-message client on raw pyzmq
(hmac + json, no jupyter_client), so client overhead stays small and equal for both kernels.

Measures, per kernel:
  execute_request("1") -> execute_reply, and -> status idle   p50 / p99 (after warm-up)
  kernel_info_request  -> kernel_info_reply                    p50 / p99
  process start -> first kernel_info_reply                     median of --starts launches
  RSS after start (VmRSS from /proc/PID/status)
  stdout throughput of a 10^6-line print loop: lines/s and lines lost

Usage:
  JUPYTER_PATH=build/share/jupyter /usr/bin/python3 tests/bench/bench_kernel.py
  ... [--json] [--iterations 300] [--warmup 30] [--starts 5] [--lines 1000000]
      [--kernels tandem-lua,python3] [--check]
--check exits 1 when a tandem target below is missed:
  execute->idle p50 <= 1/20 of ipykernel, execute->reply p50 <= 0.15 ms, start <= 30 ms,
  RSS <= 6 MiB, throughput >= 10x ipykernel.
"""

import argparse
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import zmq

DELIM = b"<IDS|MSG>"
LUA_FLOOD = "for i=1,%d do print(i) end"
PY_FLOOD = "for i in range(1, %d + 1): print(i)"


def _dumps(o):
    return json.dumps(o, separators=(",", ":")).encode()


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def kernelspec(name):
    """(argv, env, language) of kernelspec `name` from JUPYTER_PATH and the standard dirs."""
    from jupyter_core.paths import jupyter_path
    for d in jupyter_path("kernels"):
        p = os.path.join(d, name, "kernel.json")
        if os.path.isfile(p):
            with open(p) as f:
                spec = json.load(f)
            argv = list(spec["argv"])
            if os.path.basename(argv[0]) in ("python", "python3"):
                argv[0] = sys.executable  # as jupyter_client does
            return argv, spec.get("env", {}), spec.get("language", "")
    raise SystemExit("kernelspec %r not found (set JUPYTER_PATH=<build>/share/jupyter)" % name)


class KernelProc:
    """One kernel process plus a minimal raw client (shell DEALER, iopub SUB, control DEALER)."""

    def __init__(self, name, ctx):
        self.name = name
        self.ctx = ctx
        self.argv, spec_env, self.language = kernelspec(name)
        self.dir = tempfile.mkdtemp(prefix="td-bench-")
        self.key = uuid.uuid4().hex.encode()
        self.session = uuid.uuid4().hex
        self.counter = 0
        ports = free_ports(5)
        self.info = dict(shell_port=ports[0], iopub_port=ports[1], stdin_port=ports[2],
                         control_port=ports[3], hb_port=ports[4], ip="127.0.0.1",
                         key=self.key.decode(), transport="tcp",
                         signature_scheme="hmac-sha256", kernel_name=name)
        self.cf = os.path.join(self.dir, "kernel-%s.json" % name)
        with open(self.cf, "w") as f:
            json.dump(self.info, f)
        self.env = dict(os.environ, JUPYTER_RUNTIME_DIR=self.dir,
                        JUPYTER_DATA_DIR=os.path.join(self.dir, "data"),
                        IPYTHONDIR=os.path.join(self.dir, "ipython"),
                        PYDEVD_DISABLE_FILE_VALIDATION="1")
        self.env.update(spec_env)
        self.proc = None
        self.socks = {}

    # -- wire
    def msg(self, msg_type, content):
        self.counter += 1
        msg_id = "%s_%d" % (self.session, self.counter)
        header = {"msg_id": msg_id, "session": self.session, "username": "bench",
                  "date": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
                  "msg_type": msg_type, "version": "5.4"}
        parts = [_dumps(header), b"{}", b"{}", _dumps(content)]
        h = hmac.new(self.key, digestmod=hashlib.sha256)
        for p in parts:
            h.update(p)
        return msg_id, [DELIM, h.hexdigest().encode()] + parts

    @staticmethod
    def parse(frames):
        """(parent msg_id, msg_type, content-bytes) of a received message."""
        i = frames.index(DELIM)
        parent = json.loads(frames[i + 3])
        header = json.loads(frames[i + 2])
        return parent.get("msg_id"), header["msg_type"], frames[i + 5]

    def connect(self):
        def sock(kind, port):
            s = self.ctx.socket(kind)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.RECONNECT_IVL, 1)  # the kernel binds a moment after we connect
            if kind == zmq.SUB:
                s.setsockopt(zmq.SUBSCRIBE, b"")
                s.setsockopt(zmq.RCVHWM, 0)  # never drop on our side: losses are the kernel's
            else:
                s.setsockopt(zmq.IDENTITY, self.session.encode())
            s.connect("tcp://127.0.0.1:%d" % port)
            return s
        self.socks = {"shell": sock(zmq.DEALER, self.info["shell_port"]),
                      "iopub": sock(zmq.SUB, self.info["iopub_port"]),
                      "control": sock(zmq.DEALER, self.info["control_port"])}

    def close_sockets(self):
        for s in self.socks.values():
            s.close(0)
        self.socks = {}

    # -- lifecycle
    def start(self, timeout=60.0):
        """Launches the kernel; returns seconds from spawn to the first kernel_info_reply."""
        self.connect()
        argv = [a.replace("{connection_file}", self.cf) for a in self.argv]
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(argv, env=self.env, cwd=self.dir, start_new_session=True,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        shell = self.socks["shell"]
        msg_id, frames = self.msg("kernel_info_request", {})
        shell.send_multipart(frames)
        deadline = t0 + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0 or self.proc.poll() is not None:
                raise RuntimeError("%s: no kernel_info_reply after start" % self.name)
            if shell.poll(min(int(left * 1000), 200)):
                pid, t, _ = self.parse(shell.recv_multipart())
                if pid == msg_id:
                    return time.perf_counter() - t0
            else:  # cheap insurance against a lost first request
                if time.perf_counter() - t0 > 2:
                    msg_id, frames = self.msg("kernel_info_request", {})
                    shell.send_multipart(frames)

    def wait_iopub_ready(self, timeout=30.0):
        """Sends kernel_info until our SUB sees IOPub traffic (slow joiner)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            mid, frames = self.msg("kernel_info_request", {})
            self.socks["shell"].send_multipart(frames)
            if self.socks["iopub"].poll(200):
                break
        self.drain(0.3)

    def drain(self, duration):
        end = time.perf_counter() + duration
        for s in self.socks.values():
            while s.poll(max(0, int((end - time.perf_counter()) * 1000))):
                s.recv_multipart()

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def stop(self):
        try:
            if self.proc and self.proc.poll() is None and self.socks:
                _, frames = self.msg("shutdown_request", {"restart": False})
                self.socks["control"].send_multipart(frames)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
        finally:
            if self.proc and self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.close_sockets()
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- measurements
    def execute_once(self, code, timeout=30.0):
        """(seconds to execute_reply, seconds to idle)."""
        shell, iopub = self.socks["shell"], self.socks["iopub"]
        msg_id, frames = self.msg("execute_request", {
            "code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True})
        poller = zmq.Poller()
        poller.register(shell, zmq.POLLIN)
        poller.register(iopub, zmq.POLLIN)
        t_reply = t_idle = None
        t0 = time.perf_counter()
        shell.send_multipart(frames)
        while t_reply is None or t_idle is None:
            ev = dict(poller.poll(int(timeout * 1000)))
            if not ev:
                raise RuntimeError("%s: execute timed out" % self.name)
            now = time.perf_counter()
            if shell in ev:
                pid, t, _ = self.parse(shell.recv_multipart())
                if pid == msg_id and t == "execute_reply":
                    t_reply = now - t0
            if iopub in ev:
                pid, t, content = self.parse(iopub.recv_multipart())
                if pid == msg_id and t == "status" and b'"idle"' in content:
                    t_idle = now - t0
        return t_reply, t_idle

    def kernel_info_once(self, timeout=30.0):
        shell = self.socks["shell"]
        msg_id, frames = self.msg("kernel_info_request", {})
        t0 = time.perf_counter()
        shell.send_multipart(frames)
        while True:
            if not shell.poll(int(timeout * 1000)):
                raise RuntimeError("%s: kernel_info timed out" % self.name)
            pid, _, _ = self.parse(shell.recv_multipart())
            if pid == msg_id:
                return time.perf_counter() - t0

    def flood(self, lines, timeout=600.0):
        """(seconds until both reply and idle arrived, lines received, in_order)."""
        code = (LUA_FLOOD if self.language == "lua" else PY_FLOOD) % lines
        shell, iopub = self.socks["shell"], self.socks["iopub"]
        msg_id, frames = self.msg("execute_request", {
            "code": code, "silent": False, "store_history": False, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True})
        poller = zmq.Poller()
        poller.register(shell, zmq.POLLIN)
        poller.register(iopub, zmq.POLLIN)
        chunks = []
        got_reply = got_idle = False
        t0 = time.perf_counter()
        shell.send_multipart(frames)
        deadline = t0 + timeout
        while not (got_reply and got_idle):
            ev = dict(poller.poll(max(1, int((deadline - time.perf_counter()) * 1000))))
            if not ev:
                raise RuntimeError("%s: flood timed out" % self.name)
            if shell in ev:
                pid, t, _ = self.parse(shell.recv_multipart())
                got_reply = got_reply or (pid == msg_id and t == "execute_reply")
            if iopub in ev:
                pid, t, content = self.parse(iopub.recv_multipart())
                if pid != msg_id:
                    continue
                if t == "stream":
                    chunks.append(json.loads(content)["text"])
                elif t == "status" and b'"idle"' in content:
                    got_idle = True
        elapsed = time.perf_counter() - t0
        text = "".join(chunks)
        received = text.count("\n")
        expected = "".join("%d\n" % i for i in range(1, lines + 1))
        return elapsed, received, text == expected, len(chunks)


ECHO_SERVER = r"""
import sys, zmq
ctx = zmq.Context(); s = ctx.socket(zmq.ROUTER); port = s.bind_to_random_port("tcp://127.0.0.1")
print(port, flush=True)
while True:
    f = s.recv_multipart()
    if f[-1] == b"quit":
        break
    s.send_multipart(f)
"""


def client_floor(ctx, iterations):
    """p50 of a signed kernel_info-sized round trip to a pyzmq ROUTER echo in another process:
    what this client plus loopback cost before any kernel work (an upper bound: the echo is
    Python too)."""
    p = subprocess.Popen([sys.executable, "-c", ECHO_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(p.stdout.readline())
        k = KernelProc.__new__(KernelProc)
        k.key, k.session, k.counter = uuid.uuid4().hex.encode(), uuid.uuid4().hex, 0
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect("tcp://127.0.0.1:%d" % port)
        times = []
        for i in range(iterations + 30):
            msg_id, frames = k.msg("kernel_info_request", {})
            t0 = time.perf_counter()
            s.send_multipart(frames)
            KernelProc.parse(s.recv_multipart())
            if i >= 30:
                times.append(time.perf_counter() - t0)
        s.send_multipart([b"quit"])
        s.close(0)
        return pct(times, 50) * 1e3
    finally:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()


def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100.0
    f = int(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)


def bench_kernel(name, args, ctx, log):
    res = {"kernel": name}
    # starts
    starts = []
    for i in range(args.starts):
        k = KernelProc(name, ctx)
        try:
            starts.append(k.start())
            if i == 0:
                time.sleep(0.5)
                res["rss_kib"] = k.rss_kib()
        finally:
            k.stop()
    res["start_ms"] = statistics.median(starts) * 1e3
    res["start_all_ms"] = [round(s * 1e3, 2) for s in starts]
    log("%s: start median %.1f ms (%s)" % (name, res["start_ms"], res["start_all_ms"]))

    k = KernelProc(name, ctx)
    try:
        k.start()
        k.wait_iopub_ready()
        for _ in range(args.warmup):
            k.execute_once("1")
            k.kernel_info_once()
        rep, idle, ki = [], [], []
        for _ in range(args.iterations):
            r, i = k.execute_once("1")
            rep.append(r)
            idle.append(i)
        for _ in range(args.iterations):
            ki.append(k.kernel_info_once())
        res.update({
            "execute_reply_p50_ms": pct(rep, 50) * 1e3, "execute_reply_p99_ms": pct(rep, 99) * 1e3,
            "execute_idle_p50_ms": pct(idle, 50) * 1e3, "execute_idle_p99_ms": pct(idle, 99) * 1e3,
            "kernel_info_p50_ms": pct(ki, 50) * 1e3, "kernel_info_p99_ms": pct(ki, 99) * 1e3,
        })
        log("%s: execute->reply p50 %.3f ms, ->idle p50 %.3f ms, kernel_info p50 %.3f ms" % (
            name, res["execute_reply_p50_ms"], res["execute_idle_p50_ms"],
            res["kernel_info_p50_ms"]))
        if args.lines > 0:
            elapsed, received, in_order, nmsgs = k.flood(args.lines)
            res.update({"flood_lines": args.lines, "flood_s": elapsed,
                        "lines_per_s": args.lines / elapsed, "lines_received": received,
                        "lines_lost": args.lines - received, "flood_in_order": in_order,
                        "flood_stream_msgs": nmsgs})
            log("%s: %d lines in %.2f s (%d stream msgs), lost %d, in order %s" % (
                name, args.lines, elapsed, nmsgs, args.lines - received, in_order))
        res["rss_after_kib"] = k.rss_kib()
    finally:
        k.stop()
    return res


ROWS = [
    # key, label, unit, lower_is_better
    ("execute_reply_p50_ms", "execute(\"1\") -> reply p50", "ms", True),
    ("execute_reply_p99_ms", "execute(\"1\") -> reply p99", "ms", True),
    ("execute_idle_p50_ms", "execute(\"1\") -> idle p50", "ms", True),
    ("execute_idle_p99_ms", "execute(\"1\") -> idle p99", "ms", True),
    ("kernel_info_p50_ms", "kernel_info round trip p50", "ms", True),
    ("kernel_info_p99_ms", "kernel_info round trip p99", "ms", True),
    ("start_ms", "start -> first kernel_info_reply (median)", "ms", True),
    ("rss_mib", "RSS after start", "MiB", True),
    ("rss_after_mib", "RSS after the benchmark", "MiB", True),
    ("lines_per_s", "stdout throughput", "lines/s", False),
    ("lines_lost", "lines lost (of the flood)", "lines", True),
]


def targets(t, p):
    """[(description, ok)] for tandem `t` against peer `p` (either may lack keys)."""
    out = []

    def add(desc, cond):
        out.append((desc, bool(cond)))
    if p and "execute_idle_p50_ms" in p:
        add("execute->idle p50 <= 1/20 of ipykernel",
            t["execute_idle_p50_ms"] * 20 <= p["execute_idle_p50_ms"])
    add("execute->reply p50 <= 0.15 ms", t["execute_reply_p50_ms"] <= 0.15)
    add("start <= 30 ms", t["start_ms"] <= 30)
    add("RSS <= 6 MiB", t["rss_mib"] <= 6)
    if "lines_per_s" in t:
        add("no lines lost", t["lines_lost"] == 0 and t["flood_in_order"])
        if p and "lines_per_s" in p:
            add("throughput >= 10x ipykernel", t["lines_per_s"] >= 10 * p["lines_per_s"])
    return out


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "ms":
        return "%.3f" % v if v < 10 else "%.1f" % v
    if unit == "MiB":
        return "%.1f" % v
    if unit == "lines/s":
        return "{:,.0f}".format(v)
    return str(v)


def markdown(results, names):
    t = results.get(names[0])
    p = results.get(names[1]) if len(names) > 1 else None
    head = ["metric"] + names + (["ratio (%s / %s)" % (names[1], names[0])] if p else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, label, unit, lower in ROWS:
        vals = [results[n].get(key) for n in names]
        if all(v is None for v in vals):
            continue
        row = ["%s (%s)" % (label, unit)] + [fmt(v, unit) for v in vals]
        if p:
            a, b = vals[0], vals[1]
            if key == "lines_lost" or a is None or b is None or a == 0:
                row.append("-")
            else:
                row.append("%.1fx" % ((b / a) if lower else (a / b)))
        lines.append("| " + " | ".join(row) + " |")
    out = "\n".join(lines)
    if t and names[0] == "tandem-lua":
        out += "\n\nTargets (tandem):\n" + "\n".join(
            "- [%s] %s" % ("x" if ok else " ", d) for d, ok in targets(t, p))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kernels", default="tandem-lua,python3",
                    help="comma-separated kernelspec names; the first is the subject")
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--lines", type=int, default=1000000, help="0 skips the flood")
    ap.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args()

    def log(s):
        if not args.quiet:
            print(s, file=sys.stderr, flush=True)

    names = [n for n in args.kernels.split(",") if n]
    ctx = zmq.Context()
    results = {}
    try:
        floor_ms = client_floor(ctx, args.iterations)
        log("client + loopback floor (pyzmq echo) p50 %.3f ms" % floor_ms)
        for n in names:
            r = bench_kernel(n, args, ctx, log)
            for k in ("rss_kib", "rss_after_kib"):
                if r.get(k) is not None:
                    r[k.replace("_kib", "_mib")] = r[k] / 1024.0
            results[n] = r
    finally:
        ctx.term()

    host = {"cpus": os.cpu_count(), "python": sys.version.split()[0],
            "loadavg": os.getloadavg(), "client_floor_p50_ms": floor_ms,
            "pyzmq": zmq.__version__, "libzmq": zmq.zmq_version(),
            "iterations": args.iterations, "warmup": args.warmup, "starts": args.starts}
    tg = []
    if names[0] == "tandem-lua" and "tandem-lua" in results:
        tg = targets(results[names[0]], results.get(names[1]) if len(names) > 1 else None)
    if args.json:
        print(json.dumps({"host": host, "kernels": results,
                          "targets": [{"target": d, "ok": ok} for d, ok in tg]}, indent=1))
    else:
        print("Kernel benchmark: %d CPUs, loopback TCP, raw pyzmq client (pyzmq %s, "
              "libzmq %s), %d iterations after %d warm-up, median of %d starts\n" % (
                  host["cpus"], host["pyzmq"], host["libzmq"], args.iterations, args.warmup,
                  args.starts))
        print("Client + loopback floor (signed round trip to a pyzmq echo): p50 %.3f ms; "
              "load average %.2f %.2f %.2f\n" % ((floor_ms,) + os.getloadavg()))
        print(markdown(results, names))
    if args.check and not all(ok for _, ok in tg):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
