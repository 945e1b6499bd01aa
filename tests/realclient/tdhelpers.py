"""Shared helpers for the real-client suites (tests/realclient/test_*.py).

Run under Debian's /usr/bin/python3 with unittest. CTest sets:
  JUPYTER_PATH=<build>/share/jupyter   (kernelspec tandem-lua)
  TANDEM_KERNEL=<path to tandem-kernel>
  TANDEM_BUILD=<build dir>
Every kernel started here gets its own temporary JUPYTER_RUNTIME_DIR (connection file) and
JUPYTER_DATA_DIR (the kernel keeps $JUPYTER_DATA_DIR/tandem/history.sqlite there), so runs never
touch ~/.local/share/jupyter and never share state.
"""

import atexit
import collections
import copy
import hashlib
import hmac
import json
import os
import queue
import shutil
import tempfile
import time
import unittest
import uuid
from datetime import datetime, timezone

KERNEL_NAME = "tandem-lua"

# Waits that only matter when something is wrong are generous (sanitizer builds are 2-3x slower).
# Waits that prove an absence ("no reply comes") are short and fixed.
SCALE = float(os.environ.get("TD_TIMEOUT_SCALE", "1"))
TIMEOUT = 30 * SCALE          # a reply or an idle that must come
STARTUP_TIMEOUT = 60 * SCALE  # kernel start → kernel_info_reply + IOPub
QUIET = 1.0                   # how long to listen to prove that nothing arrives

os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

# ------------------------------------------------------------------------------------------------
# Environment


def _build_dir_candidates():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    if os.environ.get("TANDEM_BUILD"):
        yield os.environ["TANDEM_BUILD"]
    for name in ("build-tests", "build"):
        yield os.path.join(root, name)


def _ensure_jupyter_path():
    """Make sure JUPYTER_PATH holds a build tree's share/jupyter (CTest already does this)."""
    entries = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    for p in entries:
        if os.path.isfile(os.path.join(p, "kernels", KERNEL_NAME, "kernel.json")):
            return
    for b in _build_dir_candidates():
        share = os.path.join(b, "share", "jupyter")
        if os.path.isfile(os.path.join(share, "kernels", KERNEL_NAME, "kernel.json")):
            os.environ["JUPYTER_PATH"] = os.pathsep.join([share] + entries)
            return


_ensure_jupyter_path()

_ROOT = tempfile.mkdtemp(prefix="td-realclient-")
atexit.register(shutil.rmtree, _ROOT, True)
# Anything that still falls back to the process environment (jupyter_kernel_test, nbclient,
# jupyter-console children) is isolated too.
os.environ["JUPYTER_RUNTIME_DIR"] = os.path.join(_ROOT, "runtime")
os.environ["JUPYTER_DATA_DIR"] = os.path.join(_ROOT, "data")
os.environ["JUPYTER_CONFIG_DIR"] = os.path.join(_ROOT, "config")
os.environ["IPYTHONDIR"] = os.path.join(_ROOT, "ipython")
for _d in ("runtime", "data", "config", "ipython"):
    os.makedirs(os.path.join(_ROOT, _d), exist_ok=True)


def tempdir(prefix="td-"):
    """A fresh directory under this run's temp root (removed at exit)."""
    return tempfile.mkdtemp(prefix=prefix, dir=_ROOT)


def kernelspec_path(name=KERNEL_NAME):
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    try:
        return KernelSpecManager().get_kernel_spec(name).resource_dir
    except NoSuchKernel:
        return None


def require_tandem():
    """Fail loudly (not skip) when the kernelspec is missing: the build is broken, not a tool."""
    spec = kernelspec_path(KERNEL_NAME)
    if spec is None:
        raise RuntimeError(
            "kernelspec %r not found on JUPYTER_PATH=%r; build the tree and set JUPYTER_PATH="
            "<build>/share/jupyter (CTest does this)" % (KERNEL_NAME, os.environ.get("JUPYTER_PATH")))
    want = os.environ.get("TANDEM_KERNEL")
    if want:
        with open(os.path.join(spec, "kernel.json")) as f:
            argv0 = json.load(f)["argv"][0]
        if os.path.realpath(argv0) != os.path.realpath(want):
            raise RuntimeError("kernelspec %s runs %s, but TANDEM_KERNEL=%s" % (spec, argv0, want))


def require_executable(path, what):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise unittest.SkipTest("%s not installed (%s)" % (what, path))


def make_kernelspec(name, base=KERNEL_NAME, **overrides):
    """Writes a copy of kernelspec `base` named `name` (with fields overridden, e.g.
    interrupt_mode="message") into a temp dir; returns the dir to use as a kernels directory."""
    if base == KERNEL_NAME:
        require_tandem()
    src = kernelspec_path(base)
    with open(os.path.join(src, "kernel.json")) as f:
        spec = json.load(f)
    spec.update(overrides)
    kdirs = tempdir("spec-")
    os.makedirs(os.path.join(kdirs, name))
    with open(os.path.join(kdirs, name, "kernel.json"), "w") as f:
        json.dump(spec, f, indent=1)
    return kdirs


# ------------------------------------------------------------------------------------------------
# A kernel under jupyter_client, with per-request message routing


class Kernel:
    """One kernel process started by jupyter_client's KernelManager, plus a BlockingKernelClient.

    IOPub and replies are routed by parent msg_id, so messages that belong to other requests are
    kept for later instead of being lost or mixed up."""

    def __init__(self, kernel_name=KERNEL_NAME, data_dir=None, kernel_dirs=None,
                 startup_timeout=STARTUP_TIMEOUT, extra_env=None):
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager
        if kernel_name == KERNEL_NAME and kernel_dirs is None:
            require_tandem()
        self.root = tempdir("kernel-")
        self.runtime_dir = os.path.join(self.root, "runtime")
        self.data_dir = data_dir or os.path.join(self.root, "data")
        os.makedirs(self.runtime_dir, exist_ok=True)
        os.makedirs(self.data_dir, exist_ok=True)
        env = dict(os.environ)
        env["JUPYTER_RUNTIME_DIR"] = self.runtime_dir
        env["JUPYTER_DATA_DIR"] = self.data_dir
        env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
        env.update(extra_env or {})
        self.env = env
        kw = {}
        if kernel_dirs:
            kw["kernel_spec_manager"] = KernelSpecManager(kernel_dirs=list(kernel_dirs))
        self.km = KernelManager(
            kernel_name=kernel_name,
            connection_file=os.path.join(self.runtime_dir, "kernel-%s.json" % uuid.uuid4()),
            **kw)
        self.km.start_kernel(env=env)
        self.kc = None
        self.startup_timeout = startup_timeout
        self._connect()

    def _connect(self):
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            self.kc.wait_for_ready(timeout=self.startup_timeout)
        except RuntimeError:
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=True)
            raise
        self.router = Router(self.kc)

    @property
    def pid(self):
        return self.km.provisioner.process.pid

    @property
    def process(self):
        return self.km.provisioner.process

    @property
    def connection_file(self):
        return self.km.connection_file

    def connection_info(self):
        with open(self.km.connection_file) as f:
            return json.load(f)

    def new_client(self):
        """A second, independent client (own session id, own zmq identities)."""
        from jupyter_client.blocking import BlockingKernelClient
        kc = BlockingKernelClient(connection_file=self.km.connection_file)
        kc.load_connection_file()
        kc.start_channels()
        return kc

    def restart(self):
        self.kc.stop_channels()
        self.km.restart_kernel(now=False)
        self._connect()

    def shutdown(self):
        try:
            if self.kc is not None:
                self.kc.stop_channels()
        finally:
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=False)
            else:
                self.km.cleanup_resources()
            # drop the client now: jupyter_client 7.4.9 logs a harmless error if it is
            # garbage-collected during interpreter exit
            self.kc = None
            if getattr(self, "router", None) is not None:
                self.router.kc = None

    # convenience passthroughs
    def run(self, code, timeout=TIMEOUT, **kw):
        return self.router.run(code, timeout=timeout, **kw)

    def request(self, msg_type, content, channel="shell", timeout=TIMEOUT):
        return self.router.request(msg_type, content, channel=channel, timeout=timeout)


ExecResult = collections.namedtuple("ExecResult", "msg_id reply iopub")


class Router:
    def __init__(self, kc):
        self.kc = kc
        self.iopub = collections.defaultdict(list)   # parent msg_id -> [msg]
        self.replies = {"shell": {}, "control": {}}  # parent msg_id -> reply
        self.stdin = []

    # -- low level
    def _pull(self, channel, timeout):
        msg = getattr(self.kc, "get_%s_msg" % channel)(timeout=max(timeout, 0.001))
        pid = (msg.get("parent_header") or {}).get("msg_id")
        if channel == "iopub":
            self.iopub[pid].append(msg)
        elif channel == "stdin":
            self.stdin.append(msg)
        else:
            self.replies[channel].setdefault(pid, msg)
        return msg

    def iopub_until_idle(self, msg_id, timeout=TIMEOUT):
        """IOPub messages whose parent is msg_id, up to and including status idle."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.iopub.get(msg_id, [])
            for i, m in enumerate(got):
                if m["msg_type"] == "status" and m["content"].get("execution_state") == "idle":
                    del self.iopub[msg_id]
                    return got[:i + 1]
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    "no status idle for %s within %.0fs; IOPub seen for it: %s"
                    % (msg_id, timeout, summarize(got)))
            try:
                self._pull("iopub", min(left, 0.5))
            except queue.Empty:
                pass

    def wait_iopub(self, msg_id, msg_type, timeout=TIMEOUT):
        """Waits until an IOPub message of msg_type with parent msg_id has arrived (kept in the
        stash, so iopub_until_idle still returns it)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.iopub.get(msg_id, [])
            for m in got:
                if m["msg_type"] == msg_type:
                    return m
            if any(m["msg_type"] == "status" and m["content"].get("execution_state") == "idle"
                   for m in got):
                try:
                    rep = self.reply(msg_id, timeout=2)["content"]
                except AssertionError:
                    rep = None
                raise AssertionError("request %s ended without %s: %s (reply: %s)" % (
                    msg_id, msg_type, summarize(got), json.dumps(rep)[:300]))
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s for %s within %.0fs; seen: %s" % (
                    msg_type, msg_id, timeout, summarize(self.iopub.get(msg_id, []))))
            try:
                self._pull("iopub", min(left, 0.5))
            except queue.Empty:
                pass

    def iopub_for(self, msg_id, duration):
        """Everything on IOPub with parent msg_id seen within `duration` seconds (for absences)."""
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            try:
                self._pull("iopub", deadline - time.monotonic())
            except queue.Empty:
                pass
        return list(self.iopub.get(msg_id, []))

    def reply(self, msg_id, channel="shell", timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while msg_id not in self.replies[channel]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s reply to %s within %.0fs" % (channel, msg_id, timeout))
            try:
                self._pull(channel, min(left, 0.5))
            except queue.Empty:
                pass
        return self.replies[channel].pop(msg_id)

    def no_reply(self, msg_id, channel="shell", duration=QUIET):
        """Listens for `duration`; returns the reply if one came (the caller asserts None)."""
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline and msg_id not in self.replies[channel]:
            try:
                self._pull(channel, deadline - time.monotonic())
            except queue.Empty:
                pass
        return self.replies[channel].pop(msg_id, None)

    def stdin_msg(self, timeout=TIMEOUT):
        if not self.stdin:
            self._pull("stdin", timeout)
        return self.stdin.pop(0)

    # -- requests
    def send(self, msg_type, content, channel="shell", metadata=None):
        msg = self.kc.session.msg(msg_type, content, metadata=metadata)
        getattr(self.kc, channel + "_channel").send(msg)
        return msg["header"]["msg_id"]

    def request(self, msg_type, content, channel="shell", timeout=TIMEOUT):
        """Sends a request; returns (msg_id, reply, iopub-until-idle)."""
        msg_id = self.send(msg_type, content, channel)
        iopub = self.iopub_until_idle(msg_id, timeout)
        reply = self.reply(msg_id, channel, timeout)
        return ExecResult(msg_id, reply, iopub)

    def execute(self, code, silent=False, store_history=True, user_expressions=None,
                allow_stdin=False, stop_on_error=True):
        return self.send("execute_request", dict(
            code=code, silent=silent, store_history=store_history,
            user_expressions=user_expressions or {}, allow_stdin=allow_stdin,
            stop_on_error=stop_on_error))

    def run(self, code, timeout=TIMEOUT, **kw):
        msg_id = self.execute(code, **kw)
        return self.collect(msg_id, timeout)

    def collect(self, msg_id, timeout=TIMEOUT):
        iopub = self.iopub_until_idle(msg_id, timeout)
        reply = self.reply(msg_id, "shell", timeout)
        return ExecResult(msg_id, reply, iopub)


# ------------------------------------------------------------------------------------------------
# Message helpers


def summarize(msgs, width=100):
    out = []
    for m in msgs:
        c = m.get("content", {})
        if m["msg_type"] == "status":
            out.append("status:" + str(c.get("execution_state")))
        elif m["msg_type"] == "stream":
            out.append("stream:%s:%r" % (c.get("name"), c.get("text", "")[:width]))
        else:
            out.append("%s:%s" % (m["msg_type"], json.dumps(c, default=str)[:width]))
    return out


def outputs(iopub):
    """IOPub messages minus status and execute_input."""
    return [m for m in iopub if m["msg_type"] not in ("status", "execute_input")]


def stream_text(iopub, name="stdout"):
    return "".join(m["content"]["text"] for m in iopub
                   if m["msg_type"] == "stream" and m["content"]["name"] == name)


def results(iopub):
    return [m for m in iopub if m["msg_type"] == "execute_result"]


def result_text(iopub):
    r = results(iopub)
    if len(r) != 1:
        raise AssertionError("expected one execute_result, got %s" % summarize(iopub))
    return r[0]["content"]["data"]["text/plain"]


def errors(iopub):
    return [m for m in iopub if m["msg_type"] == "error"]


def merge_streams(msgs):
    """Collapses consecutive stream messages of the same name (batching is not ordering)."""
    out = []
    for m in msgs:
        if (out and m["msg_type"] == "stream" and out[-1][0] == "stream"
                and out[-1][1] == m["content"]["name"]):
            out[-1] = ("stream", out[-1][1], out[-1][2] + m["content"]["text"])
        elif m["msg_type"] == "stream":
            out.append(("stream", m["content"]["name"], m["content"]["text"]))
        else:
            out.append((m["msg_type"],))
    return out


def validate(msg, msg_type=None, parent_id=None):
    """jupyter_kernel_test's schema validator (0.4.5)."""
    from jupyter_kernel_test.msgspec_v5 import validate_message
    validate_message(msg, msg_type, parent_id)


# ------------------------------------------------------------------------------------------------
# A raw signed-message client over pyzmq, for malformed-input tests


class RawClient:
    """Minimal Jupyter wire client: sign, send and receive with plain pyzmq sockets."""

    DELIM = b"<IDS|MSG>"

    def __init__(self, connection_info, key=None, identity=None):
        import zmq
        self.zmq = zmq
        self.info = connection_info
        self.key = (connection_info["key"] if key is None else key).encode()
        scheme = connection_info.get("signature_scheme", "hmac-sha256").split("-", 1)[1]
        self.digestmod = getattr(hashlib, scheme)
        self.session = str(uuid.uuid4())
        self.ctx = zmq.Context()
        self.sockets = {}
        self.identity = identity or ("raw-" + self.session).encode()

    def url(self, channel):
        i = self.info
        port = i[channel + "_port"]
        if i.get("transport", "tcp") == "ipc":
            return "ipc://%s-%s" % (i["ip"], port)
        return "tcp://%s:%s" % (i["ip"], port)

    def socket(self, channel):
        zmq = self.zmq
        if channel not in self.sockets:
            if channel == "iopub":
                s = self.ctx.socket(zmq.SUB)
                s.setsockopt(zmq.SUBSCRIBE, b"")
            elif channel == "hb":
                s = self.ctx.socket(zmq.REQ)
            else:
                s = self.ctx.socket(zmq.DEALER)
                s.setsockopt(zmq.IDENTITY, self.identity)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(self.url(channel))
            self.sockets[channel] = s
        return self.sockets[channel]

    def sign(self, parts, key=None):
        k = self.key if key is None else key
        if not k:
            return b""
        h = hmac.new(k, digestmod=self.digestmod)
        for p in parts:
            h.update(p)
        return h.hexdigest().encode()

    def header(self, msg_type):
        return {"msg_id": str(uuid.uuid4()), "session": self.session, "username": "raw",
                "date": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
                "msg_type": msg_type, "version": "5.4"}

    @staticmethod
    def dumps(o):
        return json.dumps(o, separators=(",", ":")).encode()

    def frames(self, msg_type, content, header=None, signature=None, key=None):
        """Returns (msg_id, frames) of a signed message (signature overridable)."""
        hdr = header if header is not None else self.header(msg_type)
        parts = [self.dumps(hdr), b"{}", b"{}", self.dumps(content)]
        sig = self.sign(parts, key) if signature is None else signature
        return (hdr.get("msg_id") if isinstance(hdr, dict) else None), [self.DELIM, sig] + parts

    def send_frames(self, channel, frames):
        self.socket(channel).send_multipart(frames)

    def send(self, channel, msg_type, content, **kw):
        msg_id, frames = self.frames(msg_type, content, **kw)
        self.send_frames(channel, frames)
        return msg_id

    def recv(self, channel, timeout):
        """One parsed message or None after `timeout` seconds."""
        s = self.socket(channel)
        if not s.poll(int(timeout * 1000)):
            return None
        frames = s.recv_multipart()
        i = frames.index(self.DELIM)
        sig, parts = frames[i + 1], frames[i + 2:i + 6]
        if self.key and not hmac.compare_digest(sig, self.sign(parts)):
            raise AssertionError("kernel sent a message with a bad signature")
        msg = dict(zip(("header", "parent_header", "metadata", "content"),
                       (json.loads(p) for p in parts)))
        msg["msg_type"] = msg["header"]["msg_type"]
        msg["buffers"] = frames[i + 6:]
        return msg

    def recv_reply(self, channel, msg_id, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            m = self.recv(channel, left)
            if m is None:
                return None
            if m["parent_header"].get("msg_id") == msg_id:
                return m

    def drain(self, channel, duration):
        msgs = []
        deadline = time.monotonic() + duration
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return msgs
            m = self.recv(channel, left)
            if m is None:
                return msgs
            msgs.append(m)

    def close(self):
        for s in self.sockets.values():
            s.close(0)
        self.ctx.term()


def deep(o):
    return copy.deepcopy(o)


# ------------------------------------------------------------------------------------------------
# unittest base class: one kernel per TestCase class


class KernelCase(unittest.TestCase):
    kernel_name = KERNEL_NAME
    kernel_kwargs = {}
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.kernel = Kernel(cls.kernel_name, **cls.kernel_kwargs)
        cls.addClassCleanup(cls.kernel.shutdown)
        cls.router = cls.kernel.router

    # -- helpers
    def run_cell(self, code, timeout=TIMEOUT, **kw):
        return self.router.run(code, timeout=timeout, **kw)

    def run_ok(self, code, timeout=TIMEOUT, **kw):
        r = self.router.run(code, timeout=timeout, **kw)
        self.assertEqual(r.reply["content"]["status"], "ok",
                         "cell %r failed: %s" % (code, json.dumps(r.reply["content"])[:800]))
        self.assertEqual(errors(r.iopub), [], "cell %r published an error" % code)
        return r

    def run_error(self, code, timeout=TIMEOUT, **kw):
        r = self.router.run(code, timeout=timeout, **kw)
        self.assertEqual(r.reply["content"]["status"], "error",
                         "cell %r should fail: %s" % (code, summarize(r.iopub)))
        return r

    def stdout_of(self, code, **kw):
        return stream_text(self.run_ok(code, **kw).iopub, "stdout")

    def result_of(self, code, **kw):
        return result_text(self.run_ok(code, **kw).iopub)

    def assertBusyIdle(self, iopub, msg_id, inner=None):
        """iopub starts with busy, ends with idle, all parented to msg_id; `inner` (if given) is
        the exact list of msg_types between them."""
        self.assertGreaterEqual(len(iopub), 2, summarize(iopub))
        self.assertEqual((iopub[0]["msg_type"], iopub[0]["content"].get("execution_state")),
                         ("status", "busy"), summarize(iopub))
        self.assertEqual((iopub[-1]["msg_type"], iopub[-1]["content"].get("execution_state")),
                         ("status", "idle"), summarize(iopub))
        for m in iopub:
            self.assertEqual(m["parent_header"].get("msg_id"), msg_id)
        if inner is not None:
            self.assertEqual([m["msg_type"] for m in iopub[1:-1]], list(inner),
                             summarize(iopub))
        busy = [m for m in iopub if m["msg_type"] == "status"]
        self.assertEqual(len(busy), 2, "exactly one busy and one idle: %s" % summarize(iopub))

    def validate_all(self, msgs):
        for m in msgs:
            if not m["msg_type"].startswith("comm_"):
                validate(m)

    def assertAlive(self):
        """The kernel process runs and answers kernel_info on shell."""
        self.assertIsNone(self.kernel.process.poll(), "kernel process exited")
        r = self.router.request("kernel_info_request", {})
        self.assertEqual(r.reply["content"]["status"], "ok")
