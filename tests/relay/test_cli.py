"""test_cli.py: the administrative subcommands of tandem-relay on a temporary root: users add /
list / token / remove, grant / revoke / grants and audit, their tables and --json output, exit
status 1 with a message on stderr for each kind of mistake, tokens kept only as digests, a
generated token accepted by a relay started afterwards, and the CLI writing to the store while
that relay runs (WAL and busy timeout: no "database is locked")."""
import json, os, re, shutil, sqlite3, subprocess, tempfile, unittest, urllib.error, urllib.request

RELAY = os.environ.get("TANDEM_RELAY")


class CliTest(unittest.TestCase):
    def setUp(self):
        if not RELAY or not os.path.exists(RELAY):
            self.skipTest("TANDEM_RELAY not set")
        self.root = tempfile.mkdtemp(prefix="tandem-cli-")
        self.relay = None

    def tearDown(self):
        if self.relay:
            self.relay.terminate()
            try:
                self.relay.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.relay.kill()
                self.relay.wait()
            self.relay.stdout.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def run_cli(self, *args, ok=True):
        p = subprocess.run([RELAY, *args, "--root", self.root], capture_output=True, text=True, timeout=30)
        if ok:
            self.assertEqual(p.returncode, 0, f"{args}: {p.stderr}")
            self.assertEqual(p.stderr.count("tandem-relay:"), 0, p.stderr)
        else:
            self.assertEqual(p.returncode, 1, f"{args} should fail: {p.stdout}")
            self.assertTrue(p.stderr.startswith("tandem-relay: "), p.stderr)
        return p

    def table(self, text):
        """Rows of a table as lists of cells split on runs of 2+ spaces (cells hold single spaces)."""
        lines = text.rstrip("\n").split("\n")
        return [re.split(r"\s{2,}", line.rstrip()) for line in lines]

    def test_users_grants_audit(self):
        # users add: a generated token is printed alone on stdout, once.
        p = self.run_cli("users", "add", "alice", "--name", "Alice Liddell", "--generate-token")
        token = p.stdout.strip()
        self.assertRegex(token, r"^[0-9a-f]{48}$")
        self.assertIn("shown only once", p.stderr)
        self.assertIn("added user bob", self.run_cli("users", "add", "bob", "--token", "bob-secret-1").stdout)
        self.assertIn("no token yet", self.run_cli("users", "add", "carol", "--display-name", "C. Carol").stdout)
        self.assertIn("exists", self.run_cli("users", "add", "alice", ok=False).stderr)
        self.assertIn("8", self.run_cli("users", "add", "dave", "--token", "short", ok=False).stderr)
        self.run_cli("users", "add", "erin", "--token", "abcdefgh1", "--generate-token", ok=False)

        rows = self.table(self.run_cli("users", "list").stdout)
        self.assertEqual(rows[0], ["USERNAME", "NAME", "DISPLAY NAME", "TOKENS", "GRANTS", "CREATED"])
        self.assertEqual([r[:5] for r in rows[1:]], [["alice", "Alice Liddell", "Alice Liddell", "1", "0"],
                                                     ["bob", "bob", "bob", "1", "0"],
                                                     ["carol", "carol", "C. Carol", "0", "0"]])
        users = json.loads(self.run_cli("users", "list", "--json").stdout)
        self.assertEqual([u["username"] for u in users], ["alice", "bob", "carol"])
        self.assertEqual(users[0]["tokens"], 1)

        # Only digests reach the file.
        db = os.path.join(self.root, ".tandem", "tandem.sqlite")
        with open(db, "rb") as f:
            raw = f.read()
        for name in os.listdir(os.path.dirname(db)):
            with open(os.path.join(os.path.dirname(db), name), "rb") as f:
                raw += f.read()
        self.assertNotIn(token.encode(), raw)
        self.assertNotIn(b"bob-secret-1", raw)

        # grant / grants / revoke.
        self.assertEqual(self.run_cli("grant", "notebooks", "alice", "editor").stdout.strip(),
                         "granted editor on notebooks to alice")
        self.assertIn("(no download)", self.run_cli("grant", "/notebooks/secret/", "bob", "viewer", "--no-download").stdout)
        self.run_cli("grant", "/", "carol", "owner")
        self.run_cli("grant", "notebooks/x.ipynb", "carol", "commenter")
        self.assertIn("no such user mallory", self.run_cli("grant", "a", "mallory", "viewer", ok=False).stderr)
        self.assertIn("unknown role boss", self.run_cli("grant", "a", "alice", "boss", ok=False).stderr)
        self.assertIn("bad path", self.run_cli("grant", "a/../b", "alice", "viewer", ok=False).stderr)
        self.run_cli("grant", "a", "alice", ok=False)
        rows = self.table(self.run_cli("grants").stdout)
        self.assertEqual(rows[0], ["PATH", "USERNAME", "ROLE", "NO-DOWNLOAD", "GRANTED BY", "CREATED"])
        self.assertEqual([r[:5] for r in rows[1:]], [["/", "carol", "owner", "no", "(cli)"],
                                                     ["notebooks", "alice", "editor", "no", "(cli)"],
                                                     ["notebooks/secret", "bob", "viewer", "yes", "(cli)"],
                                                     ["notebooks/x.ipynb", "carol", "commenter", "no", "(cli)"]])
        under = json.loads(self.run_cli("grants", "notebooks/secret", "--json").stdout)
        self.assertEqual(under, [{"path": "notebooks/secret", "username": "bob", "role": "viewer",
                                  "no_download": True, "granted_by": "(cli)", "created": under[0]["created"]}])
        # Re-granting replaces.
        self.run_cli("grant", "notebooks", "alice", "commenter")
        self.assertEqual(json.loads(self.run_cli("grants", "notebooks", "--json").stdout)[0]["role"], "commenter")
        self.assertEqual(self.run_cli("revoke", "notebooks/secret", "bob").stdout.strip(),
                         "revoked the grant of bob on notebooks/secret")
        self.assertIn("no grant on exactly", self.run_cli("revoke", "notebooks/secret", "bob", ok=False).stderr)
        self.assertEqual(len(json.loads(self.run_cli("grants", "--json").stdout)), 3)

        # users token replaces every token; users remove takes tokens and grants along.
        new = self.run_cli("users", "token", "bob").stdout.strip()
        self.assertRegex(new, r"^[0-9a-f]{48}$")
        self.assertIn("replaced", self.run_cli("users", "token", "carol", "--token", "carol-token-9").stdout)
        self.run_cli("users", "token", "nobody", ok=False)
        self.assertIn("removed user carol", self.run_cli("users", "remove", "carol").stdout)
        self.assertIn("no such user carol", self.run_cli("users", "remove", "carol", ok=False).stderr)
        self.assertEqual([g["username"] for g in json.loads(self.run_cli("grants", "--json").stdout)], ["alice"])
        con = sqlite3.connect(db)
        self.assertEqual(con.execute("SELECT count(*) FROM tokens WHERE username = 'carol'").fetchone()[0], 0)
        self.assertEqual(con.execute("SELECT count(*) FROM tokens WHERE username = 'bob'").fetchone()[0], 1)
        con.close()

        # audit: newest first, filters, limit, table and JSON.
        entries = json.loads(self.run_cli("audit", "--json").stdout)
        self.assertEqual([e["action"] for e in entries][:3], ["user_remove", "user_token", "user_token"])
        self.assertEqual(entries[-1]["action"], "user_add")
        self.assertEqual(entries[-1]["detail"], "alice")
        seqs = [e["seq"] for e in entries]
        self.assertEqual(seqs, sorted(seqs, reverse=True))
        grants = json.loads(self.run_cli("audit", "--action", "grant", "--json").stdout)
        self.assertEqual(len(grants), 5)
        self.assertEqual(grants[-1]["path"], "notebooks")
        self.assertEqual(grants[-1]["detail"], "user=alice role=editor no_download=0")
        self.assertEqual(grants[-2]["path"], "notebooks/secret")  # stored without the slashes
        self.assertEqual(len(json.loads(self.run_cli("audit", "--limit", "2", "--json").stdout)), 2)
        self.assertEqual(json.loads(self.run_cli("audit", "--user", "alice", "--json").stdout), [])
        self.assertEqual(len(json.loads(self.run_cli("audit", "--user", "(cli)", "--json").stdout)), len(entries))
        self.assertEqual(json.loads(self.run_cli("audit", "--since", "2999-01-01", "--json").stdout), [])
        self.assertEqual(len(json.loads(self.run_cli("audit", "--since", entries[1]["at"], "--json").stdout)) >= 2, True)
        rows = self.table(self.run_cli("audit", "--action", "revoke").stdout)
        self.assertEqual(rows[0], ["SEQ", "AT", "USER", "ACTION", "PATH", "DETAIL"])
        self.assertEqual(rows[1][2:], ["(cli)", "revoke", "notebooks/secret", "user=bob"])
        self.assertIn("--limit", self.run_cli("audit", "--limit", "zero", ok=False).stderr)

        # Mistakes: unknown options, options that do not apply, missing arguments.
        self.assertIn("unknown option --bogus", self.run_cli("grants", "--bogus", ok=False).stderr)
        self.assertIn("does not apply", self.run_cli("grants", "--no-download", ok=False).stderr)
        self.run_cli("users", ok=False)
        self.run_cli("users", "frobnicate", ok=False)
        self.run_cli("revoke", "a", ok=False)
        self.assertIn("usage:", self.run_cli("grants", "--help").stdout)
        p = subprocess.run([RELAY, "grants", "--root", os.path.join(self.root, "missing")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not a directory", p.stderr)

        # --db points at another file.
        other = os.path.join(self.root, "other.sqlite")
        p = subprocess.run([RELAY, "users", "add", "zed", "--db", other], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = subprocess.run([RELAY, "users", "list", "--json", "--db", other], capture_output=True, text=True, timeout=30)
        self.assertEqual([u["username"] for u in json.loads(p.stdout)], ["zed"])

    def test_token_works_and_cli_while_relay_runs(self):
        token = self.run_cli("users", "add", "alice", "--generate-token").stdout.strip()
        self.relay = subprocess.Popen([RELAY, "--root", self.root, "--port", "0", "--token", "servertok"],
                                      stdout=subprocess.PIPE, stderr=open(os.path.join(self.root, "relay.log"), "w"))
        line = self.relay.stdout.readline().decode() + self.relay.stdout.readline().decode()
        url = re.search(r"http://[^/\s]+", line).group(0)
        req = urllib.request.Request(url + "/api/me", headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            self.assertEqual(json.loads(r.read())["identity"]["username"], "alice")
        bad = urllib.request.Request(url + "/api/me", headers={"Authorization": "token " + "0" * 48})
        with self.assertRaises(urllib.error.HTTPError):
            urllib.request.urlopen(bad, timeout=30)
        # The relay holds the store open; the CLI still writes and reads it.
        for i in range(5):
            self.run_cli("users", "add", f"u{i}", "--generate-token")
            self.run_cli("grant", f"team/{i}", f"u{i}", "viewer")
        self.assertEqual(len(json.loads(self.run_cli("grants", "team", "--json").stdout)), 5)
        self.assertEqual(len(json.loads(self.run_cli("audit", "--action", "grant", "--json").stdout)), 5)
        self.assertIsNone(self.relay.poll())


if __name__ == "__main__":
    unittest.main()
