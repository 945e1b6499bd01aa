"""tandem-kernel driven by jupyter_client 7.4.9 (KernelManager + BlockingKernelClient) and, for
malformed input, by raw pyzmq sockets.

Covers every message type and behaviour of the kernel issue: kernel_info (shell and control),
execute ordering, execution_count, silent, stop_on_error, user_expressions, inspect, complete,
is_complete, history (incl. across a restart), comms, unknown types, shutdown, interrupt (signal
and message mode), stdin, outputs and display, errors, a 10^6-line flood, and bad input.
"""

import base64
import json
import os
import queue
import signal
import time
import unittest
import uuid

import tdhelpers as td
from tdhelpers import (KernelCase, RawClient, errors, merge_streams, outputs, result_text,
                       results, stream_text, summarize)

# A cell that burns ~0.5 s of CPU before failing, so that requests sent right after it are queued
# in the kernel while it runs.
SLOW_ERROR = ("local t0 = os.clock()\n"
              "while os.clock() - t0 < 0.5 do end\n"
              "error('first fails')")


def uid():
    return "g" + uuid.uuid4().hex[:10]


# ================================================================================================
class KernelInfoTests(KernelCase):
    def check_kernel_info(self, channel):
        r = self.router.request("kernel_info_request", {}, channel=channel)
        td.validate(r.reply, "kernel_info_reply", r.msg_id)
        c = r.reply["content"]
        self.assertEqual(c["status"], "ok")
        self.assertEqual(c["protocol_version"], "5.4")
        self.assertEqual(r.reply["header"]["version"], "5.4")
        self.assertEqual(c["language_info"]["name"], "lua")
        self.assertEqual(c["language_info"]["file_extension"], ".lua")
        self.assertTrue(c["language_info"]["version"].startswith("5.4"), c["language_info"])
        for k in ("implementation", "implementation_version", "banner"):
            self.assertIsInstance(c[k], str)
        # the reply's parent is the request, and busy/idle wrap it with the request as parent
        self.assertEqual(r.reply["parent_header"]["msg_type"], "kernel_info_request")
        self.assertEqual(r.reply["parent_header"]["session"], self.kernel.kc.session.session)
        self.assertBusyIdle(r.iopub, r.msg_id, inner=[])
        self.validate_all(r.iopub)

    def test_kernel_info_shell(self):
        self.check_kernel_info("shell")

    def test_kernel_info_control(self):
        self.check_kernel_info("control")

    def test_headers(self):
        """All kernel messages carry the six header keys, version 5.4, a tz-aware date, one
        session id for the whole process and unique msg_ids."""
        r = self.run_ok("print('h')\n1")
        msgs = r.iopub + [r.reply]
        sessions = {m["header"]["session"] for m in msgs}
        self.assertEqual(len(sessions), 1, sessions)
        self.assertNotEqual(sessions.pop(), self.kernel.kc.session.session)
        ids = [m["header"]["msg_id"] for m in msgs]
        self.assertEqual(len(ids), len(set(ids)), "duplicate msg_id")
        for m in msgs:
            h = m["header"]
            for k in ("msg_id", "session", "username", "date", "msg_type", "version"):
                self.assertIn(k, h)
            self.assertEqual(h["version"], "5.4")
            self.assertFalse(isinstance(h["date"], str), "date not ISO-8601: %r" % h["date"])
            self.assertIsNotNone(h["date"].tzinfo, "date without time zone")
            self.assertEqual(m["parent_header"]["msg_id"], r.msg_id)

    def test_heartbeat(self):
        raw = RawClient(self.kernel.connection_info())
        try:
            hb = raw.socket("hb")
            for payload in (b"ping", b"\x00\xffbinary", b"x" * 5000):
                hb.send(payload)
                self.assertTrue(hb.poll(int(td.TIMEOUT * 1000)), "no heartbeat echo")
                self.assertEqual(hb.recv(), payload)
        finally:
            raw.close()


# ================================================================================================
class ExecuteTests(KernelCase):
    def test_execute_ordering(self):
        code = "print('x')\n1 + 1"
        r = self.run_ok(code)
        self.assertBusyIdle(r.iopub, r.msg_id,
                            inner=["execute_input", "stream", "execute_result"])
        self.validate_all(r.iopub)
        td.validate(r.reply, "execute_reply", r.msg_id)
        n = r.reply["content"]["execution_count"]
        ei = r.iopub[1]["content"]
        self.assertEqual(ei["code"], code)
        self.assertEqual(ei["execution_count"], n)
        self.assertEqual(r.iopub[3]["content"]["execution_count"], n)
        self.assertEqual(r.iopub[3]["content"]["data"]["text/plain"], "2")
        # The kernel creates them in order busy → … → execute_reply → idle (different sockets,
        # so compare the kernel's own timestamps).
        self.assertLessEqual(r.iopub[-2]["header"]["date"], r.reply["header"]["date"])
        self.assertLessEqual(r.reply["header"]["date"], r.iopub[-1]["header"]["date"])
        self.assertEqual(r.reply["content"]["payload"], [])
        self.assertEqual(r.reply["content"]["user_expressions"], {})

    def test_execution_count(self):
        n1 = self.run_ok("1").reply["content"]["execution_count"]
        n2 = self.run_ok("2").reply["content"]["execution_count"]
        self.assertEqual(n2, n1 + 1)
        r = self.run_ok("3", store_history=False)
        self.assertEqual(r.reply["content"]["execution_count"], n2,
                         "store_history=False must report the current count")
        ei = [m for m in r.iopub if m["msg_type"] == "execute_input"]
        self.assertEqual(len(ei), 1)
        self.assertEqual(result_text(r.iopub), "3")
        r = self.run_ok("4", silent=True)
        self.assertEqual(r.reply["content"]["execution_count"], n2)
        n3 = self.run_ok("5").reply["content"]["execution_count"]
        self.assertEqual(n3, n2 + 1, "only store_history=True executes may increment")
        # an error still counts
        e = self.run_error("error('x')")
        self.assertEqual(e.reply["content"]["execution_count"], n3 + 1)
        self.assertEqual(self.run_ok("6").reply["content"]["execution_count"], n3 + 2)

    def test_silent_broadcasts_nothing(self):
        g = uid()
        code = "print('quiet')\nio.stderr:write('err')\ndisplay(html('<b>x</b>'))\n%s = 7\n%s" % (g, g)
        r = self.run_ok(code, silent=True)
        self.assertBusyIdle(r.iopub, r.msg_id, inner=[])
        self.assertEqual(self.stdout_of("print(%s)" % g), "7\n", "silent code must still run")

    def test_empty_silent(self):
        n = self.run_ok("0").reply["content"]["execution_count"]
        r = self.run_ok("", silent=True, store_history=False)
        self.assertBusyIdle(r.iopub, r.msg_id, inner=[])
        self.assertEqual(r.reply["content"]["execution_count"], n)

    def test_empty_code(self):
        r = self.run_ok("")
        self.assertEqual(outputs(r.iopub), [])

    def test_globals_persist(self):
        g = uid()
        self.run_ok("%s = {n = 41}" % g)
        self.assertEqual(self.result_of("%s.n + 1" % g), "42")
        self.run_ok("function %s_f(x) return x * 2 end" % g)
        self.assertEqual(self.result_of("%s_f(21)" % g), "42")

    def test_cell_locals_visible_to_trailing_expression(self):
        self.assertEqual(self.result_of("local a = 2\na * 21"), "42")
        self.assertEqual(self.result_of("local a, b = 'x', 'y'\n\nreturn a .. b"), "xy")

    def test_user_expressions(self):
        g = uid()
        r = self.run_ok("%s = 5" % g, user_expressions={
            "sq": "%s * %s" % (g, g), "s": "'str'", "bad": "nosuch_%s.field" % g})
        td.validate(r.reply, "execute_reply", r.msg_id)
        ue = r.reply["content"]["user_expressions"]
        self.assertEqual(set(ue), {"sq", "s", "bad"})
        self.assertEqual(ue["sq"]["status"], "ok")
        self.assertEqual(ue["sq"]["data"], {"text/plain": "25"})
        self.assertIn("metadata", ue["sq"])
        self.assertEqual(ue["s"]["data"]["text/plain"], "str")
        self.assertEqual(ue["bad"]["status"], "error")
        self.assertIsInstance(ue["bad"]["ename"], str)
        self.assertIsInstance(ue["bad"]["traceback"], list)
        self.assertEqual(results(r.iopub), [], "user_expressions must not publish results")
        # after a failing cell: user_expressions == {}
        r = self.run_error("error('no')", user_expressions={"one": "1"})
        self.assertEqual(r.reply["content"].get("user_expressions", {}), {})

    # -- results -------------------------------------------------------------------------------
    def test_result_like_lua_c(self):
        cases = [("1+2+3", "6"), ("'hello'", "hello"), ("true", "true"), ("1/2", "0.5"),
                 ("3.0", "3.0"), ("7//2", "3"), ("1, 'two', nil", "1\ttwo\tnil"),
                 ("return 3, 4", "3\t4"),
                 ("setmetatable({}, {__tostring = function() return 'custom!' end})", "custom!")]
        for code, want in cases:
            with self.subTest(code=code):
                self.assertEqual(self.result_of(code), want)

    def test_no_result(self):
        for code in ("x_stmt = 5", "print('z')", "1+1;", "local a = 2\na * 21;", "return",
                     "do end"):
            with self.subTest(code=code):
                r = self.run_ok(code)
                self.assertEqual(results(r.iopub), [], summarize(r.iopub))

    def test_table_printing(self):
        text = self.result_of("local t = {1, 2, x = 'y', nested = {deep = 'zz'}}\n"
                              "t.self = t\nreturn t")
        self.assertFalse(text.startswith("table: 0x"), text)
        for part in ("1", "2", "x", "y", "nested", "deep", "zz", "self"):
            self.assertIn(part, text)
        self.assertLess(len(text), 5000, "cycle not guarded")

    # -- output ----------------------------------------------------------------------------------
    def test_print_and_write(self):
        r = self.run_ok("print(1, 'a', nil, true)\nio.write('x', 1, '\\n')\n"
                        "io.stdout:write('s\\n')\nio.stderr:write('e1', '\\n')")
        self.assertEqual(stream_text(r.iopub, "stdout"), "1\ta\tnil\ttrue\nx1\ns\n")
        self.assertEqual(stream_text(r.iopub, "stderr"), "e1\n")
        self.validate_all(r.iopub)

    def test_display_and_update(self):
        r = self.run_ok("display({['text/plain'] = 'v1', ['text/html'] = '<i>v1</i>'}, nil, "
                        "{display_id = 'dd1'})\n"
                        "update_display({['text/plain'] = 'v2'}, {display_id = 'dd1'})\n"
                        "update_display({['text/plain'] = 'v3'}, 'dd1')")
        self.validate_all(r.iopub)
        outs = outputs(r.iopub)
        self.assertEqual([m["msg_type"] for m in outs],
                         ["display_data", "update_display_data", "update_display_data"])
        d, u = outs[0]["content"], outs[1]["content"]
        self.assertEqual(outs[2]["content"]["data"]["text/plain"], "v3")
        self.assertEqual(outs[2]["content"]["transient"]["display_id"], "dd1")
        self.assertEqual(d["data"]["text/html"], "<i>v1</i>")
        self.assertEqual(d["transient"]["display_id"], "dd1")
        self.assertEqual(u["transient"]["display_id"], "dd1")
        self.assertEqual(u["data"]["text/plain"], "v2")

    def test_display_value(self):
        r = self.run_ok("display(42)\ndisplay('s')")
        outs = outputs(r.iopub)
        self.assertEqual([m["content"]["data"]["text/plain"] for m in outs], ["42", "s"])

    def test_clear_output(self):
        r = self.run_ok("clear_output()\nclear_output(true)\nclear_output(false)")
        self.validate_all(r.iopub)
        outs = outputs(r.iopub)
        self.assertEqual([(m["msg_type"], m["content"]["wait"]) for m in outs],
                         [("clear_output", False), ("clear_output", True),
                          ("clear_output", False)])

    def test_display_helpers(self):
        png = b"\x89PNG\r\n\x1a\n"
        cases = [
            ("display(html('<b>b</b>'))", "text/html", "<b>b</b>"),
            ("display(markdown('*m*'))", "text/markdown", "*m*"),
            ("display(latex('$x^2$'))", "text/latex", "$x^2$"),
            ("display(svg('<svg xmlns=\"http://www.w3.org/2000/svg\"/>'))", "image/svg+xml",
             '<svg xmlns="http://www.w3.org/2000/svg"/>'),
            ("display(png('\\137PNG\\r\\n\\26\\n'))", "image/png",
             base64.b64encode(png).decode()),
            ("display(json({a = 1, b = {1, 2, 3}, c = 's', d = true}))", "application/json",
             {"a": 1, "b": [1, 2, 3], "c": "s", "d": True}),
            ("local j = require('jupyter')\nj.display(j.html('<p>m</p>'))", "text/html",
             "<p>m</p>"),
        ]
        for code, mime, want in cases:
            with self.subTest(mime=mime, code=code):
                r = self.run_ok(code)
                self.validate_all(r.iopub)
                outs = outputs(r.iopub)
                self.assertEqual([m["msg_type"] for m in outs], ["display_data"],
                                 summarize(r.iopub))
                got = outs[0]["content"]["data"].get(mime)
                if mime == "image/png":
                    got = "".join((got or "").split())
                self.assertEqual(got, want, "%s: %r" % (mime, outs[0]["content"]["data"]))

    def test_stream_flushed_before_other_output(self):
        r = self.run_ok("print('a')\ndisplay(html('b'))\nprint('c')")
        self.assertEqual(merge_streams(outputs(r.iopub)),
                         [("stream", "stdout", "a\n"), ("display_data",),
                          ("stream", "stdout", "c\n")])
        r = self.run_ok("print('p')\nclear_output()\nio.write('q')\n42")
        self.assertEqual(merge_streams(outputs(r.iopub)),
                         [("stream", "stdout", "p\n"), ("clear_output",),
                          ("stream", "stdout", "q"), ("execute_result",)])
        r = self.run_error("print('before')\nerror('after')")
        self.assertEqual(merge_streams(outputs(r.iopub)),
                         [("stream", "stdout", "before\n"), ("error",)])

    def test_stream_batched(self):
        r = self.run_ok("for i = 1, 1000 do print(i) end")
        streams = [m for m in r.iopub if m["msg_type"] == "stream"]
        self.assertEqual(stream_text(r.iopub),
                         "".join("%d\n" % i for i in range(1, 1001)))
        self.assertLessEqual(len(streams), 10, "1000 prints gave %d stream messages" % len(streams))

    def test_million_lines(self):
        t0 = time.monotonic()
        r = self.run_ok("for i = 1, 1000000 do print(i) end", timeout=300 * td.SCALE)
        elapsed = time.monotonic() - t0
        streams = [m for m in r.iopub if m["msg_type"] == "stream"]
        text = stream_text(r.iopub)
        lines = text.split("\n")
        self.assertEqual(lines[-1], "", "output does not end with a newline")
        lines.pop()
        self.assertEqual(len(lines), 1000000, "lines lost or duplicated")
        self.assertEqual((lines[0], lines[-1]), ("1", "1000000"))
        self.assertTrue(text == "".join("%d\n" % i for i in range(1, 1000001)),
                        "lines out of order or corrupted")
        self.assertLess(len(streams), 10000, "%d stream messages: not batched" % len(streams))
        self.assertTrue(all(m["content"]["name"] == "stdout" for m in streams))
        print("\n  10^6 lines: %.2f s, %d stream messages" % (elapsed, len(streams)))
        self.assertAlive()

    # -- errors ----------------------------------------------------------------------------------
    def check_one_error(self, r, ename):
        td.validate(r.reply, "execute_reply", r.msg_id)
        self.validate_all(r.iopub)
        outs = outputs(r.iopub)
        self.assertEqual([m["msg_type"] for m in outs], ["error"],
                         "exactly one error output, nothing on stderr: %s" % summarize(r.iopub))
        e = outs[0]["content"]
        c = r.reply["content"]
        self.assertEqual(c["ename"], ename)
        self.assertEqual(e["ename"], ename)
        self.assertEqual(e["evalue"], c["evalue"])
        self.assertIsInstance(e["traceback"], list)
        self.assertTrue(all(isinstance(x, str) for x in e["traceback"]))
        self.assertIn("execution_count", c)
        return e

    def test_runtime_error(self):
        r = self.run_error("local x = 1\nerror('boom')")
        n = r.reply["content"]["execution_count"]
        e = self.check_one_error(r, "LuaError")
        self.assertIn("boom", e["evalue"])
        self.assertIn("In [%d]:2" % n, "\n".join(e["traceback"]))

    def test_syntax_error(self):
        r = self.run_error("x = = 1")
        n = r.reply["content"]["execution_count"]
        e = self.check_one_error(r, "SyntaxError")
        self.assertIn("In [%d]:1" % n, e["evalue"] + "\n" + "\n".join(e["traceback"]))

    def test_error_in_function_from_earlier_cell(self):
        g = uid()
        m = self.run_ok("function %s()\n  error('deep')\nend" % g).reply["content"][
            "execution_count"]
        r = self.run_error("%s()" % g)
        e = self.check_one_error(r, "LuaError")
        self.assertIn("deep", e["evalue"])
        self.assertIn("In [%d]:2" % m, "\n".join(e["traceback"]))

    def test_other_errors(self):
        e = self.check_one_error(self.run_error("local t = nil\nt.x = 1"), "LuaError")
        self.assertIn("index", e["evalue"])
        self.check_one_error(self.run_error("error({code = 1})"), "LuaError")
        self.check_one_error(self.run_error("error()"), "LuaError")
        self.check_one_error(self.run_error("local function f() return f() + 1 end\nf()"),
                             "LuaError")  # stack overflow
        self.assertEqual(self.result_of("6*7"), "42")

    # -- stop_on_error -------------------------------------------------------------------------
    def test_stop_on_error_aborts_queue(self):
        b, c = uid(), uid()
        ids = [self.router.execute(SLOW_ERROR), self.router.execute("%s = 1" % b),
               self.router.execute("%s = 1" % c)]
        r1 = self.router.collect(ids[0])
        self.assertEqual(r1.reply["content"]["status"], "error")
        self.assertEqual(r1.reply["content"]["ename"], "LuaError")
        for mid in ids[1:]:
            r = self.router.collect(mid)
            td.validate(r.reply, "execute_reply", mid)
            self.assertEqual(r.reply["content"]["status"], "error")
            self.assertEqual(r.reply["content"]["ename"], "ExecutionAborted")
            self.assertEqual(r.iopub[0]["content"]["execution_state"], "busy")
            self.assertEqual(r.iopub[-1]["content"]["execution_state"], "idle")
            self.assertEqual(outputs(r.iopub), [], "an aborted request publishes no output")
            self.assertIsInstance(r.reply["content"]["execution_count"], int)
        self.assertEqual(self.stdout_of("print(%s, %s)" % (b, c)), "nil\tnil\n",
                         "aborted cells must not run")
        self.assertEqual(self.result_of("'after'"), "after")

    def test_stop_on_error_false(self):
        b = uid()
        ids = [self.router.execute(SLOW_ERROR, stop_on_error=False),
               self.router.execute("%s = 1" % b)]
        self.assertEqual(self.router.collect(ids[0]).reply["content"]["status"], "error")
        self.assertEqual(self.router.collect(ids[1]).reply["content"]["status"], "ok")
        self.assertEqual(self.stdout_of("print(%s)" % b), "1\n")

    def test_no_abort_after_failed_reply(self):
        """The abort covers requests queued when the cell failed, not requests sent after the
        client got the failed cell's execute_reply (ipykernel#609-style window)."""
        aborted = []
        for i in range(30):
            bad = self.router.execute("error('fail %d')" % i)
            self.router.reply(bad)                   # the client has seen the failure...
            nxt = self.router.execute("%d" % i)       # ...and only then sends the next cell
            self.router.iopub_until_idle(bad)
            r = self.router.collect(nxt)
            if r.reply["content"]["status"] != "ok":
                aborted.append((i, r.reply["content"].get("ename")))
        self.assertEqual(aborted, [], "executes sent after the failed reply were aborted")

    def test_abort_spares_other_requests(self):
        b = uid()
        e = self.router.execute(SLOW_ERROR)
        comp = self.router.send("complete_request", {"code": "pri", "cursor_pos": 3})
        x = self.router.execute("%s = 1" % b)
        self.assertEqual(self.router.collect(e).reply["content"]["status"], "error")
        cr = self.router.reply(comp)
        self.assertEqual(cr["content"]["status"], "ok")
        self.assertIn("print", cr["content"]["matches"])
        self.assertEqual(self.router.collect(x).reply["content"]["ename"], "ExecutionAborted")
        # a request sent after the failure was handled runs normally
        self.assertEqual(self.result_of("1"), "1")


# ================================================================================================
class IntrospectionTests(KernelCase):
    def complete(self, code, cursor_pos=None):
        if cursor_pos is None:
            cursor_pos = len(code)
        r = self.router.request("complete_request", {"code": code, "cursor_pos": cursor_pos})
        td.validate(r.reply, "complete_reply", r.msg_id)
        self.assertBusyIdle(r.iopub, r.msg_id, inner=[])
        self.assertEqual(r.reply["content"]["status"], "ok")
        return r.reply["content"]

    def inspect(self, code, cursor_pos=None, detail_level=0):
        if cursor_pos is None:
            cursor_pos = len(code)
        r = self.router.request("inspect_request", {"code": code, "cursor_pos": cursor_pos,
                                                    "detail_level": detail_level})
        td.validate(r.reply, "inspect_reply", r.msg_id)
        self.assertBusyIdle(r.iopub, r.msg_id, inner=[])
        self.assertEqual(r.reply["content"]["status"], "ok")
        return r.reply["content"]

    def is_complete(self, code):
        r = self.router.request("is_complete_request", {"code": code})
        td.validate(r.reply, "is_complete_reply", r.msg_id)
        self.assertBusyIdle(r.iopub, r.msg_id, inner=[])
        return r.reply["content"]

    # -- complete
    def test_complete_globals(self):
        g = uid()
        self.run_ok("%s_value = 1" % g)
        c = self.complete(g + "_va")
        self.assertIn(g + "_value", c["matches"])
        self.assertEqual((c["cursor_start"], c["cursor_end"]), (0, len(g) + 3))
        self.assertEqual(c["metadata"], {})

    def test_complete_keywords(self):
        c = self.complete("whi")
        self.assertIn("while", c["matches"])
        c = self.complete("x = 1 fun")
        self.assertIn("function", c["matches"])
        self.assertEqual(c["cursor_start"], 6)

    def test_complete_fields_and_index_chain(self):
        g = uid()
        self.run_ok("local base = {base_method = 1}\n"
                    "local mid = setmetatable({mid_field = 2}, {__index = base})\n"
                    "%s = setmetatable({own_field = 3}, {__index = mid})" % g)
        c = self.complete(g + ".")
        for name in ("own_field", "mid_field", "base_method"):
            self.assertIn(name, c["matches"])
        c = self.complete(g + ".base_m")
        self.assertEqual(c["matches"], ["base_method"])
        self.assertEqual((c["cursor_start"], c["cursor_end"]), (len(g) + 1, len(g) + 7))
        c = self.complete("string.for")
        self.assertEqual(c["matches"], ["format"])

    def test_complete_does_not_call_index_functions(self):
        g = uid()
        self.run_ok("%s = setmetatable({}, {__index = function(t, k) %s_called = true "
                    "return {zzz = 1} end})" % (g, g))
        self.complete(g + ".a")
        self.complete(g + ".a.z")
        self.assertEqual(self.stdout_of("print(%s_called)" % g), "nil\n")

    def test_complete_methods_after_colon(self):
        g = uid()
        self.run_ok("%s = 'abc'\n%s_t = {val = 1, fn = function() end}" % (g, g))
        c = self.complete(g + ":up")
        self.assertEqual(c["matches"], ["upper"])
        self.assertEqual(c["cursor_start"], len(g) + 1)
        c = self.complete(g + "_t:")
        self.assertIn("fn", c["matches"])
        self.assertNotIn("val", c["matches"], "after ':' only functions")

    def test_complete_locals_of_code(self):
        c = self.complete("local zeta_local = 1\nprint(zeta_l")
        self.assertIn("zeta_local", c["matches"])

    def test_complete_cursor_in_code_points(self):
        code = "é = 1; pri"
        c = self.complete(code)  # cursor 10 code points (11 bytes)
        self.assertIn("print", c["matches"])
        self.assertEqual((c["cursor_start"], c["cursor_end"]), (7, 10))
        code = 's = "ü€" .. pri .. "x"'
        c = self.complete(code, cursor_pos=15)  # just after "pri"
        self.assertIn("print", c["matches"])
        self.assertEqual((c["cursor_start"], c["cursor_end"]), (12, 15))

    # -- inspect
    def test_inspect_builtin(self):
        c = self.inspect("print")
        self.assertTrue(c["found"])
        self.assertIn("print", c["data"]["text/plain"])
        c = self.inspect("x = print(1)", cursor_pos=9)  # just after the name
        self.assertTrue(c["found"])
        self.assertIn("print", c["data"]["text/plain"])
        c = self.inspect("string.format")
        self.assertTrue(c["found"])
        self.assertIn("format", c["data"]["text/plain"])

    def test_inspect_user_function(self):
        g = uid()
        self.run_ok("function %s(name, greeting)\n  return greeting .. name\nend" % g)
        c = self.inspect(g)
        self.assertTrue(c["found"])
        text = c["data"]["text/plain"]
        for part in (g, "name", "greeting"):
            self.assertIn(part, text)

    def test_inspect_not_found(self):
        c = self.inspect("nosuch_" + uid())
        self.assertFalse(c["found"])

    # -- is_complete
    def test_is_complete(self):
        for code in ("x = 1", "1", "print('a')", "for i = 1, 3 do print(i) end"):
            with self.subTest(code=code):
                self.assertEqual(self.is_complete(code)["status"], "complete")
        for code in ("for i = 1, 3 do", "function f()", "x = [[abc", "t = {1, 2,", "f("):
            with self.subTest(code=code):
                c = self.is_complete(code)
                self.assertEqual(c["status"], "incomplete")
                self.assertIsInstance(c.get("indent"), str)
        for code in ("a!=b)", "end", "import = 7q"):
            with self.subTest(code=code):
                self.assertEqual(self.is_complete(code)["status"], "invalid")


# ================================================================================================
class CommTests(KernelCase):
    def send(self, msg_type, content):
        mid = self.router.send(msg_type, content)
        iopub = self.router.iopub_until_idle(mid)
        self.assertBusyIdle(iopub, mid)
        self.assertIsNone(self.router.no_reply(mid, duration=0.3), "comms get no shell reply")
        return mid, iopub

    def comm_info(self, target_name=None):
        content = {} if target_name is None else {"target_name": target_name}
        r = self.router.request("comm_info_request", content)
        td.validate(r.reply, "comm_info_reply", r.msg_id)
        self.assertBusyIdle(r.iopub, r.msg_id, inner=[])
        return r.reply["content"]["comms"]

    def test_comm_lifecycle(self):
        self.assertEqual(self.comm_info(), {})
        # unknown target: answered with comm_close for that comm_id
        cid = uuid.uuid4().hex
        mid, iopub = self.send("comm_open", {"comm_id": cid, "target_name": "no.such.target",
                                             "data": {}})
        closes = [m for m in iopub if m["msg_type"] == "comm_close"]
        self.assertEqual(len(closes), 1, summarize(iopub))
        self.assertEqual(closes[0]["content"]["comm_id"], cid)
        self.assertEqual(self.comm_info(), {})

        # a target registered from Lua echoes every comm_msg
        self.run_ok("local jupyter = require('jupyter')\n"
                    "jupyter.comm_register('echo', function(comm, data)\n"
                    "  comm:on_msg(function(c, d) c:send(d) end)\n"
                    "end)")
        cid = uuid.uuid4().hex
        mid, iopub = self.send("comm_open", {"comm_id": cid, "target_name": "echo",
                                             "data": {"hello": 1}})
        self.assertEqual([m for m in iopub if m["msg_type"] == "comm_close"], [])
        self.assertEqual(self.comm_info(), {cid: {"target_name": "echo"}})
        self.assertEqual(self.comm_info("echo"), {cid: {"target_name": "echo"}})
        self.assertEqual(self.comm_info("other"), {})

        payload = {"x": [1, 2, "y"], "n": {"deep": True}, "s": "é"}
        mid, iopub = self.send("comm_msg", {"comm_id": cid, "data": payload})
        echoed = [m for m in iopub if m["msg_type"] == "comm_msg"]
        self.assertEqual(len(echoed), 1, summarize(iopub))
        self.assertEqual(echoed[0]["content"]["comm_id"], cid)
        self.assertEqual(echoed[0]["content"]["data"], payload)
        self.assertEqual(echoed[0]["parent_header"]["msg_id"], mid)

        # comm_msg to an unknown comm is ignored (busy/idle, no crash)
        self.send("comm_msg", {"comm_id": "nope", "data": {}})
        self.send("comm_close", {"comm_id": cid, "data": {}})
        self.assertEqual(self.comm_info(), {})
        self.assertAlive()

    def test_unknown_msg_type(self):
        for t in ("no_such_request", "connect_request_x", "execute_reply"):
            with self.subTest(msg_type=t):
                mid = self.router.send(t, {"a": 1})
                iopub = self.router.iopub_until_idle(mid)
                self.assertBusyIdle(iopub, mid, inner=[])
                self.assertIsNone(self.router.no_reply(mid), "unknown types get no reply")
        mid = self.router.send("no_such_request", {}, channel="control")
        iopub = self.router.iopub_until_idle(mid)
        self.assertBusyIdle(iopub, mid, inner=[])
        self.assertEqual(self.result_of("6*7"), "42")


# ================================================================================================
class InputTests(KernelCase):
    # (jupyter_kernel_test 0.4.5's schema wants input_request.password to be a number, which
    # no kernel sends, so input_request is checked by hand here.)
    def setUp(self):
        self.pending = None

    def tearDown(self):
        # never leave the kernel blocked in a read after a failed assertion
        if self.pending is not None:
            try:
                self.kernel.km.interrupt_kernel()
                self.router.collect(self.pending, timeout=10)
            except Exception:
                pass

    def start_input(self, code, **kw):
        mid = self.router.execute(code, allow_stdin=True, **kw)
        self.pending = mid
        req = self.router.stdin_msg()
        self.assertEqual(req["msg_type"], "input_request")
        self.assertEqual(req["parent_header"]["msg_id"], mid)
        self.assertIsInstance(req["content"]["prompt"], str)
        self.assertIsInstance(req["content"]["password"], bool)
        return mid, req

    def collect(self, mid):
        r = self.router.collect(mid)
        self.pending = None
        return r

    def test_io_read_line(self):
        mid, req = self.start_input("local v = io.read()\nprint('got:' .. v)")
        self.assertFalse(req["content"]["password"])
        self.kernel.kc.input("hello é")
        r = self.collect(mid)
        self.assertEqual(r.reply["content"]["status"], "ok")
        self.assertEqual(stream_text(r.iopub), "got:hello é\n")

    def test_io_read_number(self):
        mid, req = self.start_input("local n = io.read('n')\nprint(n + 1, math.type(n))")
        self.kernel.kc.input("41")
        r = self.collect(mid)
        self.assertEqual(stream_text(r.iopub), "42\tinteger\n")

    def test_io_stdin_read_and_eof(self):
        mid, req = self.start_input("local v = io.stdin:read('l')\nprint(v)")
        self.kernel.kc.input("via stdin handle")
        self.assertEqual(stream_text(self.collect(mid).iopub), "via stdin handle\n")
        mid, req = self.start_input("local v = io.read()\nprint(v == nil)")
        self.kernel.kc.input("\x04")
        self.assertEqual(stream_text(self.collect(mid).iopub), "true\n")

    def test_getpass(self):
        mid, req = self.start_input(
            "local gp = getpass or require('jupyter').getpass\n"
            "local pw = gp('Password: ')\nprint(#pw)")
        self.assertTrue(req["content"]["password"])
        self.assertEqual(req["content"]["prompt"], "Password: ")
        self.kernel.kc.input("secret")
        r = self.collect(mid)
        self.assertEqual(stream_text(r.iopub), "6\n")
        self.assertNotIn("secret", json.dumps([m["content"] for m in r.iopub]))

    def test_prompt_flushed_before_input_request(self):
        mid, req = self.start_input("io.write('Name? ')\nlocal v = io.read()\nprint(v)")
        # the pending stream must reach IOPub while the kernel waits for input
        deadline = time.monotonic() + 5
        while stream_text(self.router.iopub.get(mid, [])) != "Name? ":
            self.assertLess(time.monotonic(), deadline,
                            "io.write output not flushed before input_request: %s"
                            % summarize(self.router.iopub.get(mid, [])))
            try:
                self.router._pull("iopub", 0.2)
            except queue.Empty:
                pass
        self.kernel.kc.input("Bob")
        self.assertEqual(stream_text(self.collect(mid).iopub), "Name? Bob\n")

    def test_no_stdin_allowed(self):
        t0 = time.monotonic()
        r = self.run_error("local v = io.read()", allow_stdin=False)
        self.assertLess(time.monotonic() - t0, 10, "must not wait for input")
        c = r.reply["content"]
        self.assertIn("stdin", (c["evalue"] + " ".join(c["traceback"])).lower())
        self.assertEqual(len(errors(r.iopub)), 1)
        self.assertAlive()

    def test_input_only_to_requester(self):
        kc2 = self.kernel.new_client()
        try:
            time.sleep(0.5)  # let kc2's SUB join
            mid, req = self.start_input("local v = io.read()\nprint('v=' .. v)")
            with self.assertRaises(queue.Empty, msg="input_request went to another client"):
                kc2.get_stdin_msg(timeout=1.0)
            self.kernel.kc.input("mine")
            r = self.collect(mid)
            self.assertEqual(stream_text(r.iopub), "v=mine\n")
            # the other client still sees the broadcast IOPub of this request
            seen = []
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    m = kc2.get_iopub_msg(timeout=0.5)
                except queue.Empty:
                    continue
                if m["parent_header"].get("msg_id") == mid:
                    seen.append(m)
                    if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                        break
            self.assertEqual(stream_text(seen), "v=mine\n")
            self.assertEqual(seen[0]["parent_header"]["session"], self.kernel.kc.session.session)
        finally:
            kc2.stop_channels()


# ================================================================================================
class InterruptSignalTests(KernelCase):
    """interrupt_mode "signal": jupyter_client sends SIGINT to the kernel's process group."""

    def interrupt_running(self, code, **kw):
        mid = self.router.execute(code, **kw)
        self.router.wait_iopub(mid, "execute_input")
        time.sleep(0.3)
        self.kernel.km.interrupt_kernel()
        r = self.router.collect(mid, timeout=15 * td.SCALE)
        return r

    def check_interrupted(self, r):
        c = r.reply["content"]
        self.assertEqual(c["status"], "error", c)
        self.assertEqual(c["ename"], "Interrupted", c)
        self.assertEqual(len(errors(r.iopub)), 1)
        td.validate(r.reply, "execute_reply", r.msg_id)

    def test_interrupt_busy_loop(self):
        g = uid()
        self.run_ok("%s = 'kept'" % g)
        self.check_interrupted(self.interrupt_running("while true do end"))
        self.assertEqual(self.stdout_of("print(%s)" % g), "kept\n", "globals lost")
        # a second interrupt works too (SIGINT handler not reset to default)
        self.check_interrupted(self.interrupt_running(
            "local function f(x) return x end\nwhile true do f(1) end"))
        self.check_interrupted(self.interrupt_running("local s = 0\nfor i = 1, 1e12 do s = s + i end"))
        self.assertEqual(self.stdout_of("print(%s)" % g), "kept\n")

    def test_interrupt_when_idle(self):
        self.kernel.km.interrupt_kernel()
        time.sleep(0.5)
        self.assertAlive()
        self.assertEqual(self.result_of("1+1"), "2")

    def test_interrupt_aborts_queue(self):
        g = uid()
        first = self.router.execute("while true do end")
        queued = self.router.execute("%s = 1" % g)
        self.router.wait_iopub(first, "execute_input")
        time.sleep(0.3)
        self.kernel.km.interrupt_kernel()
        self.check_interrupted(self.router.collect(first))
        r = self.router.collect(queued)
        self.assertEqual(r.reply["content"].get("ename"), "ExecutionAborted")
        self.assertEqual(self.stdout_of("print(%s)" % g), "nil\n")

    def test_interrupt_input_wait(self):
        mid = self.router.execute("local v = io.read()\nprint('not reached')", allow_stdin=True)
        self.router.stdin_msg()
        self.kernel.km.interrupt_kernel()
        r = self.router.collect(mid, timeout=15 * td.SCALE)
        self.check_interrupted(r)
        self.assertEqual(stream_text(r.iopub), "")
        self.assertAlive()
        self.assertEqual(self.result_of("'still here'"), "still here")


class InterruptMessageTests(InterruptSignalTests):
    """interrupt_mode "message": jupyter_client sends interrupt_request on control."""

    @classmethod
    def setUpClass(cls):
        dirs = td.make_kernelspec("tandem-lua-msg", interrupt_mode="message")
        cls.kernel_name = "tandem-lua-msg"
        cls.kernel_kwargs = {"kernel_dirs": [dirs]}
        super().setUpClass()
        assert cls.kernel.km.kernel_spec.interrupt_mode == "message"

    def test_interrupt_request_reply(self):
        """Our own interrupt_request on control, while a loop runs: reply ok, busy/idle with
        the request as parent, and a control kernel_info is answered while shell is busy."""
        mid = self.router.execute("while true do end")
        self.router.wait_iopub(mid, "execute_input")
        ki = self.router.send("kernel_info_request", {}, channel="control")
        rep = self.router.reply(ki, "control", timeout=5 * td.SCALE)
        self.assertEqual(rep["content"]["status"], "ok", "control not served while shell busy")
        ir = self.router.send("interrupt_request", {}, channel="control")
        rep = self.router.reply(ir, "control")
        td.validate(rep, "interrupt_reply", ir)
        self.assertEqual(rep["content"]["status"], "ok")
        self.assertBusyIdle(self.router.iopub_until_idle(ir), ir, inner=[])
        self.check_interrupted(self.router.collect(mid))
        self.assertAlive()

    def test_sigint_ignored_when_idle(self):
        os.kill(self.kernel.pid, signal.SIGINT)
        time.sleep(0.5)
        self.assertAlive()


# ================================================================================================
class HistoryTests(KernelCase):
    cells = ["hist_a = 1", "hist_b = 2", "hist_a + hist_b", "hist_a = 1"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.lines = []
        for code in cls.cells:
            r = cls.router.run(code)
            assert r.reply["content"]["status"] == "ok", r.reply["content"]
            cls.lines.append(r.reply["content"]["execution_count"])
        cls.router.run("print('not stored')", store_history=False)
        cls.router.run("hist_silent = 1", silent=True)

    def history(self, **kw):
        content = dict(output=False, raw=True)
        content.update(kw)
        r = self.router.request("history_request", content)
        td.validate(r.reply, "history_reply", r.msg_id)
        self.assertBusyIdle(r.iopub, r.msg_id, inner=[])
        self.assertEqual(r.reply["content"]["status"], "ok")
        return r.reply["content"]["history"]

    def test_tail(self):
        h = self.history(hist_access_type="tail", n=4)
        self.assertEqual([e[2] for e in h], self.cells)
        self.assertEqual([e[1] for e in h], self.lines)
        self.assertEqual(len({e[0] for e in h}), 1)
        self.assertIsInstance(h[0][0], int)
        h = self.history(hist_access_type="tail", n=2)
        self.assertEqual([e[2] for e in h], self.cells[2:])

    def test_tail_output(self):
        h = self.history(hist_access_type="tail", n=4, output=True)
        self.assertEqual([len(e) for e in h], [3, 3, 3, 3])
        self.assertEqual([e[2][0] for e in h], self.cells)
        self.assertEqual(h[2][2][1], "3")
        self.assertIsNone(h[0][2][1])

    def test_range(self):
        session = self.history(hist_access_type="tail", n=1)[0][0]
        for s in (0, session):
            with self.subTest(session=s):
                h = self.history(hist_access_type="range", session=s, start=self.lines[1],
                                 stop=self.lines[2] + 1)
                self.assertEqual([e[2] for e in h], self.cells[1:3])
                self.assertEqual([e[1] for e in h], self.lines[1:3])
                self.assertEqual({e[0] for e in h}, {session})
                h = self.history(hist_access_type="range", session=s, start=self.lines[1],
                                 stop=self.lines[1] + 1)
                self.assertEqual([e[2] for e in h], [self.cells[1]], "stop is exclusive")

    def test_search(self):
        h = self.history(hist_access_type="search", pattern="hist_a*")
        self.assertEqual([e[2] for e in h], ["hist_a = 1", "hist_a + hist_b", "hist_a = 1"])
        h = self.history(hist_access_type="search", pattern="hist_a*", unique=True)
        self.assertEqual(sorted(e[2] for e in h), ["hist_a + hist_b", "hist_a = 1"])
        h = self.history(hist_access_type="search", pattern="hist_a*", n=1)
        self.assertEqual([(e[1], e[2]) for e in h], [(self.lines[3], "hist_a = 1")])
        h = self.history(hist_access_type="search", pattern="hist_[ab] = ?")
        self.assertEqual([e[2] for e in h], ["hist_a = 1", "hist_b = 2", "hist_a = 1"])
        h = self.history(hist_access_type="search", pattern="hist_a")
        self.assertEqual(h, [], "the glob must match the whole input")
        h = self.history(hist_access_type="search", pattern="*not stored*")
        self.assertEqual(h, [], "store_history=False must not be recorded")
        h = self.history(hist_access_type="search", pattern="hist_silent*")
        self.assertEqual(h, [], "silent must not be recorded")


class HistoryRestartTests(KernelCase):
    def history(self, **kw):
        content = dict(output=False, raw=True)
        content.update(kw)
        r = self.router.request("history_request", content)
        td.validate(r.reply, "history_reply", r.msg_id)
        return r.reply["content"]["history"]

    def test_history_survives_restart(self):
        cells = ["before_restart_%d = %d" % (i, i) for i in range(3)]
        for c in cells:
            self.run_ok(c)
        old = self.history(hist_access_type="tail", n=3)
        self.assertEqual([e[2] for e in old], cells)
        old_session = old[0][0]
        old_kernel_session = self.run_ok("1").reply["header"]["session"]

        self.kernel.restart()
        self.__class__.router = self.kernel.router
        r = self.run_ok("after_restart = 1")
        self.assertNotEqual(r.reply["header"]["session"], old_kernel_session,
                            "a new process needs a new session id")
        h = self.history(hist_access_type="tail", n=5)
        self.assertEqual([e[2] for e in h], cells + ["1", "after_restart = 1"])
        self.assertEqual({e[0] for e in h[:4]}, {old_session})
        self.assertGreater(h[4][0], old_session, "new kernel process, new history session")
        h = self.history(hist_access_type="search", pattern="before_restart_*")
        self.assertEqual([e[2] for e in h], cells)
        # range by absolute and by relative (-1 = previous) session number
        for s in (old_session, -1):
            with self.subTest(session=s):
                h = self.history(hist_access_type="range", session=s, start=old[0][1],
                                 stop=old[-1][1] + 1)
                self.assertEqual([e[2] for e in h], cells)
        self.assertTrue(os.path.isfile(os.path.join(self.kernel.data_dir, "tandem",
                                                    "history.sqlite")))


# ================================================================================================
class ShutdownTests(unittest.TestCase):
    def start(self):
        k = td.Kernel()

        def cleanup():
            try:
                k.kc.stop_channels()
                if k.km.has_kernel and k.process is not None and k.process.poll() is None:
                    k.km.shutdown_kernel(now=True)
            except Exception:
                pass
        self.addCleanup(cleanup)
        return k

    def wait_exit(self, k, timeout=5.0):
        try:
            return k.process.wait(timeout=timeout * td.SCALE)
        except Exception:
            self.fail("kernel did not exit within %.0fs of shutdown_request" % timeout)

    def check_shutdown(self, restart):
        k = self.start()
        mid = k.kc.shutdown(restart=restart)
        rep = k.router.reply(mid, "control")
        td.validate(rep, "shutdown_reply", mid)
        self.assertEqual(rep["content"]["status"], "ok")
        self.assertIs(rep["content"]["restart"], restart)
        self.assertEqual(self.wait_exit(k), 0, "exit code")
        iopub = k.router.iopub_until_idle(mid, timeout=2)
        self.assertEqual(iopub[0]["content"].get("execution_state"), "busy", summarize(iopub))
        k.kc.stop_channels()
        k.km.cleanup_resources()

    def test_shutdown_restart_true(self):
        self.check_shutdown(True)

    def test_shutdown_restart_false(self):
        self.check_shutdown(False)

    def test_shutdown_kernel_clean_exit(self):
        """jupyter_client's own path (SIGINT, then shutdown_request) ends with exit 0, before
        it escalates to SIGTERM (2.5 s) or SIGKILL."""
        k = self.start()
        self.assertEqual(k.run("x = 1").reply["content"]["status"], "ok")
        k.kc.stop_channels()
        proc = k.process
        t0 = time.monotonic()
        k.km.shutdown_kernel(now=False)
        self.assertLess(time.monotonic() - t0, 2.5 * td.SCALE)
        self.assertEqual(proc.returncode, 0)

    def test_shutdown_while_busy(self):
        """control is served while Lua runs: shutdown during an endless loop."""
        k = self.start()
        mid = k.router.execute("while true do end")
        k.router.wait_iopub(mid, "execute_input")
        sid = k.kc.shutdown(restart=False)
        rep = k.router.reply(sid, "control", timeout=5 * td.SCALE)
        self.assertEqual(rep["content"]["status"], "ok")
        self.assertEqual(self.wait_exit(k), 0)
        k.kc.stop_channels()
        k.km.cleanup_resources()

    def test_sigterm_exits(self):
        k = self.start()
        k.process.send_signal(signal.SIGTERM)
        self.assertIn(self.wait_exit(k), (0, -signal.SIGTERM))
        k.kc.stop_channels()
        k.km.cleanup_resources()


# ================================================================================================
class BadInputTests(KernelCase):
    """Forged, unsigned and malformed messages on raw DEALER sockets: dropped (or answered with
    an error), never executed, never fatal."""

    def setUp(self):
        self.raw = RawClient(self.kernel.connection_info())
        self.iopub = self.raw.socket("iopub")
        self.raw.socket("shell")
        self.raw.socket("control")
        time.sleep(0.3)  # SUB join

    def tearDown(self):
        self.raw.close()

    def execute_content(self, code):
        return {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                "allow_stdin": False, "stop_on_error": True}

    def assertNothingFor(self, msg_id, channel="shell"):
        got = self.raw.drain(channel, td.QUIET)
        self.assertEqual([m for m in got if m["parent_header"].get("msg_id") == msg_id], [],
                         "kernel answered a forged message")
        pub = self.raw.drain("iopub", 0.2)
        self.assertEqual([m for m in pub if m["parent_header"].get("msg_id") == msg_id], [],
                         "kernel published for a forged message")

    def assertRawAlive(self):
        self.assertIsNone(self.kernel.process.poll(), "kernel died")
        mid = self.raw.send("shell", "kernel_info_request", {})
        rep = self.raw.recv_reply("shell", mid)
        self.assertIsNotNone(rep, "no kernel_info_reply after bad input")
        self.assertEqual(rep["content"]["status"], "ok")

    def assertGlobalNil(self, name):
        self.assertEqual(self.stdout_of("print(%s == nil)" % name), "true\n",
                         "forged code was executed")

    def test_wrong_signature_not_executed(self):
        g = uid()
        mid = self.raw.send("shell", "execute_request", self.execute_content("%s = 1" % g),
                            key=b"not-the-key")
        self.assertNothingFor(mid)
        self.assertGlobalNil(g)

    def test_missing_signature_not_executed(self):
        g = uid()
        mid = self.raw.send("shell", "execute_request", self.execute_content("%s = 1" % g),
                            signature=b"")
        self.assertNothingFor(mid)
        self.assertGlobalNil(g)

    def test_signature_of_other_content_not_executed(self):
        g = uid()
        _, good = self.raw.frames("execute_request", self.execute_content("x = 1"))
        mid, forged = self.raw.frames("execute_request", self.execute_content("%s = 1" % g))
        right = forged[1]
        # another message's signature, a prefix of the right one, the right one plus junk
        for sig in (good[1], right[:32], right[:1], right + b"00", right[:-1] + b"g"):
            forged[1] = sig
            self.raw.send_frames("shell", forged)
        self.assertNothingFor(mid)
        self.assertGlobalNil(g)

    def test_forged_control(self):
        mid = self.raw.send("control", "shutdown_request", {"restart": False}, key=b"bad")
        self.assertNothingFor(mid, "control")
        mid = self.raw.send("control", "shutdown_request", {"restart": False}, signature=b"")
        self.assertNothingFor(mid, "control")
        self.assertRawAlive()

    def test_garbage_frames(self):
        bad = [
            [b"hello"],
            [b""],
            [b"<IDS|MSG>"],
            [b"<IDS|MSG>", b"sig"],
            [b"<IDS|MSG>", b"", b"{}", b"{}"],
            [b"<IDS|MSG>", b"0" * 64, b"{}", b"{}", b"{}", b"{}"],
            [os.urandom(4096) for _ in range(8)],
            [b"<IDS|MSG>"] * 10,
            [b"\xff\xfe\x00"],
        ]
        for frames in bad:
            self.raw.send_frames("shell", frames)
            self.raw.send_frames("control", frames)
        self.raw.drain("shell", 0.5)
        self.assertRawAlive()

    def signed_raw(self, channel, header_bytes, content_bytes=b"{}", parent=b"{}", meta=b"{}"):
        parts = [header_bytes, parent, meta, content_bytes]
        self.raw.send_frames(channel, [RawClient.DELIM, self.raw.sign(parts)] + parts)

    def test_malformed_json_with_valid_signature(self):
        hdr = self.raw.header("kernel_info_request")
        good = RawClient.dumps(hdr)
        cases = [
            (b'{"msg_id": ', b"{}"),
            (good, b"{not json"),
            (good[:-1], b"{}"),
            (b"[]", b"{}"),
            (b"null", b"{}"),
            (good, b'"a string"'),
            (good, b"[1, 2]"),
            (b'{"msg_id": "\xff\xfe", "msg_type": "kernel_info_request"}', b"{}"),
            (good, b"{}" + b" " * 100 + b"x"),
            (good, b"{\"a\": " + b"[" * 100000 + b"]" * 100000 + b"}"),
            (good, b"a" * (1 << 20)),
        ]
        for h, c in cases:
            self.signed_raw("shell", h, c)
            self.signed_raw("control", h, c)
            self.signed_raw("shell", good, b"{}", parent=b"{oops", meta=b"[]")
        self.raw.drain("shell", 0.5)
        self.assertRawAlive()

    def test_missing_header_fields(self):
        base = self.raw.header("execute_request")
        content = RawClient.dumps(self.execute_content("bad_header_ran = true"))
        variants = [{}]
        for k in ("msg_id", "msg_type", "session", "username", "date", "version"):
            h = dict(base)
            h["msg_id"] = str(uuid.uuid4())
            del h[k]
            variants.append(h)
        for k, v in (("msg_type", 123), ("msg_type", None), ("msg_id", 5), ("msg_type", ""),
                     ("msg_type", "x" * 100000), ("session", {"a": 1}), ("version", 5.4)):
            h = dict(base)
            h["msg_id"] = str(uuid.uuid4())
            h[k] = v
            variants.append(h)
        for h in variants:
            self.signed_raw("shell", RawClient.dumps(h), content)
            self.signed_raw("control", RawClient.dumps(h), b"{}")
        self.raw.drain("shell", 0.5)
        self.assertRawAlive()

    def test_bad_content_fields(self):
        cases = [
            ("execute_request", {}),
            ("execute_request", {"code": 5}),
            ("execute_request", {"code": None, "silent": "yes"}),
            ("execute_request", {"code": "x = 1", "user_expressions": [1, 2]}),
            ("complete_request", {"code": "pri"}),
            ("complete_request", {"code": "pri", "cursor_pos": 1000}),
            ("complete_request", {"code": "é", "cursor_pos": -5}),
            ("inspect_request", {"code": 3, "cursor_pos": "x"}),
            ("history_request", {"hist_access_type": "nonsense"}),
            ("history_request", {"hist_access_type": "tail", "n": -1}),
            ("history_request", {"hist_access_type": "range", "session": "a"}),
            ("is_complete_request", {}),
            ("comm_open", {"target_name": 1}),
            ("comm_msg", {}),
            ("input_reply", {"value": "stray"}),
        ]
        for t, c in cases:
            mid = self.raw.send("shell", t, c)
            rep = self.raw.recv_reply("shell", mid, timeout=2)
            if rep is not None:  # an answer is fine; it must be a well-formed reply
                rep["header"]["date"] = None  # (the validator expects a parsed date)
                try:
                    td.validate(rep, t.replace("_request", "_reply"), mid)
                except Exception as e:
                    self.fail("malformed reply to %s %r: %s\n%s" % (t, c, e, rep["content"]))
        self.raw.send("stdin", "input_reply", {"value": "nobody asked"})
        self.assertRawAlive()


if __name__ == "__main__":
    unittest.main()
