"""The install contract other issues and checks rely on: `cmake --install build --prefix P` lays out
P/bin/tandem-kernel and the tandem-lua kernelspec (absolute argv, language, display name, interrupt
mode, logos); `tandem-kernel install` does the same for an already-built binary; the CLI answers
--version and --help; a kernel given a bad connection file exits non-zero with a clear message; and
jupyter_client finds and runs the installed spec."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

BUILD = os.environ["TANDEM_BUILD"]
KERNEL = os.environ["TANDEM_KERNEL"]


class InstallTests(unittest.TestCase):
    def check_spec(self, spec_dir, exe):
        with open(os.path.join(spec_dir, "kernel.json")) as f:
            spec = json.load(f)
        self.assertEqual(spec["argv"], [exe, "-f", "{connection_file}"])
        self.assertTrue(os.path.isabs(spec["argv"][0]))
        self.assertEqual(spec["language"], "lua")
        self.assertEqual(spec["display_name"], "Lua 5.4 (Tandem)")
        self.assertEqual(spec["interrupt_mode"], "signal")
        for logo in ("logo-32x32.png", "logo-64x64.png"):
            with open(os.path.join(spec_dir, logo), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

    def test_cmake_install(self):
        with tempfile.TemporaryDirectory() as prefix:
            subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix], check=True,
                           stdout=subprocess.DEVNULL)
            exe = os.path.join(prefix, "bin", "tandem-kernel")
            self.assertTrue(os.access(exe, os.X_OK))
            spec_dir = os.path.join(prefix, "share", "jupyter", "kernels", "tandem-lua")
            self.check_spec(spec_dir, exe)
            # jupyter_client finds the installed spec through JUPYTER_PATH and runs it.
            code = ("from jupyter_client.manager import start_new_kernel\n"
                    "km, kc = start_new_kernel(kernel_name='tandem-lua', startup_timeout=30)\n"
                    "r = kc.execute_interactive('return 6*7', timeout=15, output_hook=lambda m: None)\n"
                    "print(r['content']['status'])\n"
                    "kc.stop_channels(); km.shutdown_kernel(now=True)\n")
            env = dict(os.environ, JUPYTER_PATH=os.path.join(prefix, "share", "jupyter"))
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                 text=True, timeout=120)
            self.assertIn("ok", out.stdout, out.stderr)

    def test_kernel_install_subcommand(self):
        with tempfile.TemporaryDirectory() as prefix:
            out = subprocess.run([KERNEL, "install", "--prefix", prefix], capture_output=True,
                                 text=True, check=True)
            spec_dir = os.path.join(prefix, "share", "jupyter", "kernels", "tandem-lua")
            self.assertIn(spec_dir, out.stdout)
            with open(os.path.join(spec_dir, "kernel.json")) as f:
                spec = json.load(f)
            self.assertEqual(spec["argv"][0], os.path.realpath(KERNEL))
            self.assertEqual(spec["argv"][1:], ["-f", "{connection_file}"])
        with tempfile.TemporaryDirectory() as home:
            env = dict(os.environ, JUPYTER_DATA_DIR=os.path.join(home, "data"))
            subprocess.run([KERNEL, "install", "--user", "--name", "lua-x"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            self.assertTrue(os.path.exists(os.path.join(home, "data", "kernels", "lua-x",
                                                        "kernel.json")))
        bad = subprocess.run([KERNEL, "install", "--name", "../evil"], capture_output=True, text=True)
        self.assertEqual(bad.returncode, 2)

    def test_cli(self):
        out = subprocess.run([KERNEL, "--version"], capture_output=True, text=True, check=True)
        self.assertRegex(out.stdout, r"^tandem-kernel \d+\.\d+\.\d+ \(Jupyter protocol 5\.4")
        out = subprocess.run([KERNEL, "--help"], capture_output=True, text=True, check=True)
        self.assertIn("-f CONNECTION_FILE", out.stdout)
        out = subprocess.run([KERNEL, "--bogus"], capture_output=True, text=True)
        self.assertEqual(out.returncode, 2)
        self.assertIn("unknown argument", out.stderr)

    def test_bad_connection_files(self):
        with tempfile.TemporaryDirectory() as d:
            missing = subprocess.run([KERNEL, "-f", os.path.join(d, "nope.json")],
                                     capture_output=True, text=True, timeout=10)
            self.assertEqual(missing.returncode, 1)
            self.assertIn("cannot read connection file", missing.stderr)
            path = os.path.join(d, "bad.json")
            with open(path, "w") as f:
                f.write('{"shell_port": "x"}')
            bad = subprocess.run([KERNEL, "-f", path], capture_output=True, text=True, timeout=10)
            self.assertEqual(bad.returncode, 1)
            self.assertIn("bad connection file", bad.stderr)
            self.assertIn("shell_port", bad.stderr)
            # A port that is already taken: a clear bind error, not a hang.
            import socket
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            cf = {"shell_port": port, "iopub_port": 0, "stdin_port": 0, "control_port": 0,
                  "hb_port": 0, "ip": "127.0.0.1", "key": "k", "transport": "tcp",
                  "signature_scheme": "hmac-sha256"}
            with open(path, "w") as f:
                json.dump(cf, f)
            busy = subprocess.run([KERNEL, "-f", path], capture_output=True, text=True, timeout=10)
            s.close()
            self.assertEqual(busy.returncode, 1)
            self.assertIn("cannot bind shell socket", busy.stderr)


if __name__ == "__main__":
    unittest.main()
