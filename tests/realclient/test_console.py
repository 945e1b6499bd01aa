"""jupyter-console 6.4.4 driven non-interactively: a new tandem-lua kernel, and --existing on a
kernel started by a KernelManager. Input is paced on the console's own prompts (each line is sent
only after "In [n]:" appeared), so nothing is lost to the startup race."""

import os
import re
import subprocess
import threading
import time
import unittest

import tdhelpers as td

JUPYTER_CONSOLE = "/usr/bin/jupyter-console"


class Console:
    def __init__(self, args, env):
        self.proc = subprocess.Popen(
            [JUPYTER_CONSOLE, "--simple-prompt",
             "--ZMQTerminalInteractiveShell.kernel_timeout=%d" % int(60 * td.SCALE)] + args,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=env, cwd=env["JUPYTER_RUNTIME_DIR"])
        self.out = b""
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                return
            with self.lock:
                self.out += chunk

    def text(self):
        with self.lock:
            return self.out.decode("utf-8", "replace")

    def wait_prompts(self, n, timeout=60):
        """Waits until the n-th "In [k]:" prompt has been printed."""
        deadline = time.monotonic() + timeout * td.SCALE
        while len(re.findall(r"In \[\d+\]:", self.text())) < n:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError("prompt %d never came; output:\n%s" % (n, self.text()))
            time.sleep(0.05)

    def wait_first_prompt(self):
        """Waits for "In [1]:", then gives the console's IOPub subscription time to reach the
        kernel. jupyter-console 6.4.4 prints its first prompt after a shell kernel_info reply
        alone (it does not wait for IOPub to flow, as jupyter_client's wait_for_ready does), so
        a line sent at once can run before its SUB socket is subscribed, and the console then
        waits forever for an idle it never receives. A person never types that fast."""
        self.wait_prompts(1)
        time.sleep(1.0 * td.SCALE)

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def close(self, timeout=30):
        """EOF on stdin ends the console ("exit" would be sent to the kernel as Lua code)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            return self.proc.wait(timeout=timeout * td.SCALE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("jupyter-console did not exit; output:\n%s" % self.text())
        finally:
            self.reader.join(5)


def console_env():
    d = td.tempdir("console-")
    env = dict(os.environ, PYTHONUNBUFFERED="1", TERM="dumb",
               JUPYTER_RUNTIME_DIR=os.path.join(d, "runtime"),
               JUPYTER_DATA_DIR=os.path.join(d, "data"),
               JUPYTER_CONFIG_DIR=os.path.join(d, "config"))
    for k in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR"):
        os.makedirs(env[k])
    return env


class ConsoleTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        td.require_executable(JUPYTER_CONSOLE, "jupyter-console")
        td.require_tandem()

    def test_new_kernel(self):
        c = Console(["--kernel=tandem-lua"], console_env())
        try:
            c.wait_first_prompt()
            self.assertIn("In [1]:", c.text())
            c.send("print(40+2)")
            c.wait_prompts(2)
            c.send("6*7 + 1")
            c.wait_prompts(3)
            c.send("error('console boom')")
            c.wait_prompts(4)
            rc = c.close()
        finally:
            if c.proc.poll() is None:
                c.proc.kill()
        out = c.text()
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"(?m)(^|In \[1\]: )42$")
        self.assertRegex(out, r"Out\[2\]: 43")
        self.assertIn("console boom", out)
        self.assertIn("Shutting down kernel", out)

    def test_existing_kernel(self):
        k = td.Kernel()
        self.addCleanup(k.shutdown)
        self.assertEqual(k.run("shared_v = 41").reply["content"]["status"], "ok")
        c = Console(["--existing", k.connection_file], console_env())
        try:
            c.wait_first_prompt()
            c.send("print(shared_v + 1)")
            c.wait_prompts(2)
            c.send("console_v = 'from console'")
            c.wait_prompts(3)
            self.assertEqual(c.close(), 0, c.text())
        finally:
            if c.proc.poll() is None:
                c.proc.kill()
        self.assertRegex(c.text(), r"(?m)(^|In \[\d+\]: )42$")
        self.assertIn("keeping kernel alive", c.text())
        # the kernel outlives the attached console and saw its cell
        self.assertIsNone(k.process.poll(), "kernel died when the console detached")
        r = k.run("print(console_v)")
        self.assertEqual(td.stream_text(r.iopub), "from console\n")


if __name__ == "__main__":
    unittest.main()
