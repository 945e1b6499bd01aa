"""Wire-level behaviour seen from a raw pyzmq client: the XPUB iopub_welcome (JEP 65) answers a new
subscription with the subscribed topic; control is served on its own thread (kernel_info and an
interrupt_request are answered while a cell spins); and a heartbeat echoes while Lua is busy."""
import hashlib
import hmac
import json
import os
import socket
import subprocess
import tempfile
import time
import unittest
import uuid

import zmq

KERNEL = os.environ["TANDEM_KERNEL"]
KEY = b"test-key"


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def frames(msg_type, content):
    header = json.dumps({"msg_id": str(uuid.uuid4()), "session": "s", "username": "u",
                         "date": "2025-01-01T00:00:00.000000Z", "msg_type": msg_type,
                         "version": "5.4"}).encode()
    parts = [header, b"{}", b"{}", json.dumps(content).encode()]
    mac = hmac.new(KEY, digestmod=hashlib.sha256)
    for p in parts:
        mac.update(p)
    return json.loads(header)["msg_id"], [b"<IDS|MSG>", mac.hexdigest().encode()] + parts


def parse(msg):
    i = msg.index(b"<IDS|MSG>")
    return {"topic": msg[:i], "header": json.loads(msg[i + 2]), "parent": json.loads(msg[i + 3]),
            "content": json.loads(msg[i + 5])}


class WireTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        ports = free_ports(5)
        self.cf = dict(zip(["shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"],
                           ports), ip="127.0.0.1", key=KEY.decode(), transport="tcp",
                       signature_scheme="hmac-sha256")
        path = os.path.join(self.dir.name, "kernel.json")
        with open(path, "w") as f:
            json.dump(self.cf, f)
        env = dict(os.environ, JUPYTER_DATA_DIR=self.dir.name)
        self.proc = subprocess.Popen([KERNEL, "-f", path], env=env)
        self.ctx = zmq.Context()
        self.sockets = []

    def tearDown(self):
        for s in self.sockets:
            s.close(linger=0)
        self.ctx.term()
        self.proc.terminate()
        self.assertEqual(self.proc.wait(10), 0)
        self.dir.cleanup()

    def sock(self, kind, port_key):
        s = self.ctx.socket(kind)
        s.setsockopt(zmq.RECONNECT_IVL, 10)
        s.connect("tcp://127.0.0.1:%d" % self.cf[port_key])
        self.sockets.append(s)
        return s

    def recv(self, s, timeout=5.0):
        if not s.poll(int(timeout * 1000)):
            self.fail("no message within %.1fs" % timeout)
        return parse(s.recv_multipart())

    def wait_ready(self, shell):
        for _ in range(100):
            _, f = frames("kernel_info_request", {})
            shell.send_multipart(f)
            if shell.poll(200):
                shell.recv_multipart()
                return
        self.fail("kernel never answered kernel_info")

    def test_iopub_welcome(self):
        shell = self.sock(zmq.DEALER, "shell_port")
        self.wait_ready(shell)
        sub = self.sock(zmq.SUB, "iopub_port")
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        first = self.recv(sub)
        self.assertEqual(first["header"]["msg_type"], "iopub_welcome")
        self.assertEqual(first["content"], {"subscription": ""})
        self.assertEqual(first["parent"], {})
        # A second subscriber with its own topic gets a welcome naming that topic.
        sub2 = self.sock(zmq.SUB, "iopub_port")
        sub2.setsockopt(zmq.SUBSCRIBE, b"kernel")
        second = self.recv(sub2)
        self.assertEqual(second["content"], {"subscription": "kernel"})
        self.assertTrue(second["topic"][0].startswith(b"kernel"))

    def test_control_served_while_busy(self):
        shell = self.sock(zmq.DEALER, "shell_port")
        control = self.sock(zmq.DEALER, "control_port")
        hb = self.sock(zmq.REQ, "hb_port")
        self.wait_ready(shell)
        _, f = frames("execute_request", {"code": "while true do end", "silent": False,
                                          "store_history": True, "user_expressions": {},
                                          "allow_stdin": False, "stop_on_error": True})
        shell.send_multipart(f)
        time.sleep(0.3)
        t = time.monotonic()
        ki_id, f = frames("kernel_info_request", {})
        control.send_multipart(f)
        reply = self.recv(control, 2.0)
        self.assertEqual(reply["header"]["msg_type"], "kernel_info_reply")
        self.assertEqual(reply["parent"]["msg_id"], ki_id)
        self.assertLess(time.monotonic() - t, 1.0)
        hb.send(b"ping")
        self.assertTrue(hb.poll(1000), "heartbeat silent while a cell runs")
        self.assertEqual(hb.recv(), b"ping")
        _, f = frames("interrupt_request", {})
        control.send_multipart(f)
        self.assertEqual(self.recv(control)["content"]["status"], "ok")
        reply = self.recv(shell, 5.0)
        self.assertEqual(reply["header"]["msg_type"], "execute_reply")
        self.assertEqual(reply["content"]["status"], "error")
        self.assertEqual(reply["content"]["ename"], "Interrupted")


if __name__ == "__main__":
    unittest.main()
