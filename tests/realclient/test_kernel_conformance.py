"""jupyter_kernel_test (Debian 0.4.5) conformance suite against the tandem-lua kernelspec.

All 12 tests of KernelTests run; every attribute is filled so none is skipped. The harness's own
timing rules apply (first IOPub within 1 s must be busy, gaps between outputs < 0.1 s), see
docs wire-protocol note §17.
"""

import unittest

import jupyter_kernel_test as jkt

import tdhelpers


class TandemKernelTests(jkt.KernelTests):
    kernel_name = "tandem-lua"
    language_name = "lua"
    file_extension = ".lua"

    code_hello_world = "print('hello, world')"
    code_stderr = "io.stderr:write('oops\\n')"

    # cursor at the end of the text; matches must be exactly these sets
    completion_samples = [
        {"text": "pri", "matches": {"print"}},
        {"text": "string.upp", "matches": {"upper"}},
    ]

    complete_code_samples = ["1", "x = 1", "function f(x) return x * 2 end", "print('a')",
                             "for i = 1, 3 do print(i) end", "t = {1, 2}"]
    incomplete_code_samples = ["function f(x)", "for i = 1, 3 do", "x = [[abc", "t = {1, 2,",
                               "if x then", "--[[ open comment", "x ="]
    invalid_code_samples = ["a!=b)", "import = 7q", "end"]

    code_generate_error = "error('boom')"
    code_execute_result = [
        {"code": "1+2+3", "result": "6"},
        {"code": "6*7", "result": "42"},
    ]
    code_history_pattern = "1?2*"
    supported_history_operations = ("tail", "range", "search")
    code_inspect_sample = "print"
    code_clear_output = "clear_output()"
    code_display_data = [
        {"code": "display({['text/html'] = '<b>hi</b>'})", "mime": "text/html"},
        {"code": "display(html('<i>x</i>'))", "mime": "text/html"},
        {"code": "display(markdown('*x*'))", "mime": "text/markdown"},
    ]
    code_page_something = "help(print)"

    @classmethod
    def setUpClass(cls):
        # Same as KernelTests.setUpClass, but with a private runtime and data dir.
        cls.kernel = tdhelpers.Kernel(cls.kernel_name)
        cls.km, cls.kc = cls.kernel.km, cls.kernel.kc

    @classmethod
    def tearDownClass(cls):
        cls.kernel.shutdown()


if __name__ == "__main__":
    unittest.main()
