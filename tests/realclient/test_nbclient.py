"""nbclient 0.7.2 (NotebookClient and /usr/bin/jupyter-execute) running Lua notebooks on
tandem-lua, with the saved outputs checked exactly and validated by nbformat."""

import contextlib
import os
import subprocess
import sys
import unittest

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import tdhelpers as td

JUPYTER_EXECUTE = "/usr/bin/jupyter-execute"


@contextlib.contextmanager
def private_dirs():
    """A fresh JUPYTER_RUNTIME_DIR and JUPYTER_DATA_DIR for one kernel manager."""
    root = td.tempdir("nb-")
    saved = {k: os.environ.get(k) for k in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR")}
    os.environ["JUPYTER_RUNTIME_DIR"] = os.path.join(root, "runtime")
    os.environ["JUPYTER_DATA_DIR"] = os.path.join(root, "data")
    os.makedirs(os.environ["JUPYTER_RUNTIME_DIR"])
    os.makedirs(os.environ["JUPYTER_DATA_DIR"])
    try:
        yield root
    finally:
        for k, v in saved.items():
            os.environ[k] = v


def lua_notebook(sources):
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "tandem-lua", "display_name": "Lua 5.4 (Tandem)",
                                 "language": "lua"}
    for s in sources:
        nb.cells.append(new_markdown_cell(s[1]) if isinstance(s, tuple) else new_code_cell(s))
    return nb


def coalesced(outputs):
    """Outputs with consecutive stream outputs of one name joined (kernels may split a stream
    at batch boundaries; nbclient stores each message as its own output)."""
    out = []
    for o in outputs:
        o = dict(o)
        if (out and o["output_type"] == "stream" and out[-1]["output_type"] == "stream"
                and out[-1]["name"] == o["name"]):
            out[-1]["text"] += o["text"]
        else:
            out.append(o)
    return out


def execute(nb, **kw):
    from nbclient import NotebookClient
    with private_dirs() as root:
        client = NotebookClient(nb, kernel_name="tandem-lua", timeout=int(60 * td.SCALE),
                                startup_timeout=int(60 * td.SCALE),
                                resources={"metadata": {"path": root}}, **kw)
        client.execute()
    return nb


class NotebookClientTests(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        td.require_tandem()

    def test_outputs_exact(self):
        nb = lua_notebook([
            "print(6*7)\nio.write('out', '\\n');",                   # 1
            ("md", "# Some *markdown*"),
            "1+2+3",                                                   # 2
            "display({['text/html'] = '<b>hi</b>', ['text/plain'] = 'hi'})",  # 3
            "io.stderr:write('warn\\n')",                             # 4
            "nb_t = {x = 1}\nnb_t.x + 41",                             # 5
            "print('gone')\nclear_output()\nprint('kept')",            # 6
            "display({['text/plain'] = 'old'}, nil, {display_id = 'u1'})",  # 7
            "update_display({['text/plain'] = 'new'}, {display_id = 'u1'})",  # 8
            "display(json({a = 1, b = {true, false}}))",               # 9
            "1+1;",                                                    # 10
            "'a', 'b'",                                                # 11
        ])
        execute(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        self.assertEqual([c.execution_count for c in code], list(range(1, 12)))
        self.assertEqual(nb.cells[1].get("outputs"), None)
        self.assertEqual(nb.metadata["language_info"]["name"], "lua")
        outs = [coalesced(c.outputs) for c in code]

        def stream(name, text):
            return {"output_type": "stream", "name": name, "text": text}

        def result(n, text):
            return {"output_type": "execute_result", "execution_count": n,
                    "data": {"text/plain": text}, "metadata": {}}

        self.assertEqual(outs[0], [stream("stdout", "42\nout\n")])
        self.assertEqual(outs[1], [result(2, "6")])
        self.assertEqual(outs[2], [{"output_type": "display_data", "metadata": {},
                                    "data": {"text/html": "<b>hi</b>", "text/plain": "hi"}}])
        self.assertEqual(outs[3], [stream("stderr", "warn\n")])
        self.assertEqual(outs[4], [result(5, "42")])
        self.assertEqual(outs[5], [stream("stdout", "kept\n")])
        self.assertEqual(outs[6], [{"output_type": "display_data", "metadata": {},
                                    "data": {"text/plain": "new"}}],
                         "update_display must target the display_id of cell 7")
        self.assertEqual(outs[7], [])
        self.assertEqual(len(outs[8]), 1)
        self.assertEqual(outs[8][0]["output_type"], "display_data")
        self.assertEqual(outs[8][0]["data"]["application/json"], {"a": 1, "b": [True, False]})
        self.assertEqual(outs[9], [])
        self.assertEqual(outs[10], [result(11, "a\tb")])
        nbformat.validate(nb)
        # and it survives a write/read round trip
        path = os.path.join(td.tempdir("nbfile-"), "out.ipynb")
        nbformat.write(nb, path)
        nbformat.validate(nbformat.read(path, as_version=4))

    def test_error_cell_allowed(self):
        nb = lua_notebook(["print('before')", "local x = 1\nerror('nb boom')", "print('after')"])
        execute(nb, allow_errors=True)
        outs = [coalesced(c.outputs) for c in nb.cells]
        self.assertEqual(outs[0], [{"output_type": "stream", "name": "stdout",
                                    "text": "before\n"}])
        self.assertEqual(len(outs[1]), 1, outs[1])
        err = outs[1][0]
        self.assertEqual(err["output_type"], "error")
        self.assertEqual(err["ename"], "LuaError")
        self.assertIn("nb boom", err["evalue"])
        self.assertIn("In [2]:2", "\n".join(err["traceback"]))
        self.assertEqual(outs[2], [{"output_type": "stream", "name": "stdout",
                                    "text": "after\n"}])
        nbformat.validate(nb)

    def test_error_cell_stops(self):
        from nbclient.exceptions import CellExecutionError
        nb = lua_notebook(["x = 1", "error('stop here')", "print('never')"])
        with self.assertRaises(CellExecutionError) as cm:
            execute(nb)
        self.assertIn("stop here", str(cm.exception))
        self.assertIn("LuaError", str(cm.exception))
        self.assertEqual(nb.cells[2].outputs, [])
        self.assertIsNone(nb.cells[2].execution_count)

    def test_stdin_refused(self):
        """nbclient sets allow_stdin=False: io.read must fail fast with an error output."""
        nb = lua_notebook(["local v = io.read()"])
        execute(nb, allow_errors=True)
        outs = nb.cells[0].outputs
        self.assertEqual([o["output_type"] for o in outs], ["error"])
        self.assertIn("stdin", (outs[0]["evalue"] + " ".join(outs[0]["traceback"])).lower())


class JupyterExecuteTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        td.require_executable(JUPYTER_EXECUTE, "jupyter-execute (python3-nbclient)")
        td.require_tandem()

    def run_execute(self, sources, *args):
        d = td.tempdir("jexec-")
        path = os.path.join(d, "nb.ipynb")
        nbformat.write(lua_notebook(sources), path)
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=os.path.join(d, "runtime"),
                   JUPYTER_DATA_DIR=os.path.join(d, "data"))
        p = subprocess.run([JUPYTER_EXECUTE, "--kernel_name=tandem-lua"] + list(args) + [path],
                           cwd=d, env=env, capture_output=True, text=True,
                           timeout=120 * td.SCALE)
        # jupyter-execute does not write outputs back
        self.assertEqual(nbformat.read(path, as_version=4).cells[0].outputs, [])
        return p

    def test_ok_exit_0(self):
        p = self.run_execute(["x = 6*7", "print(x)", "x"])
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_error_exit_1(self):
        p = self.run_execute(["x = 1", "error('cli boom')", "print('never')"])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("cli boom", p.stderr + p.stdout)

    def test_allow_errors_exit_0(self):
        p = self.run_execute(["error('tolerated')", "print(1)"], "--allow-errors")
        self.assertEqual(p.returncode, 0, p.stderr)


if __name__ == "__main__":
    sys.exit(unittest.main())
