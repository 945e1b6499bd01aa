#!/bin/sh
# cli_test.sh: the tandem-ydoc contract against vectors made by yjs (tests/vectors/ydoc, written by
# gen-ydoc-vectors.mjs). For every case: `json` (root kinds inferred, and with --root hints) equals
# yjs's toJSON (for cases marked `exact`, byte for byte JSON.stringify's text), `sv` equals yjs's
# state vector, `encode`, `merge` and `diff` write yjs's bytes.
# Then the error contract: malformed input exits 2 naming the file and the byte offset, usage
# errors exit 2 with the usage text, a missing file exits 1, --help exits 0.
# Usage: cli_test.sh TANDEM_YDOC VECTOR_DIR. Needs /usr/bin/python3 (JSON comparison only).
set -u
bin=$1 vectors=$2
py=/usr/bin/python3
[ -x "$py" ] || { echo "SKIP: $py is missing"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# Compares two JSON texts as values (key order aside).
same_json() {
    "$py" -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:3]); sys.exit(0 if a==b else 1)' "$1" "$2" 2>/dev/null
}

for dir in "$vectors"/*/; do
    name=$(basename "$dir")
    ups=$(ls "$dir"[0-9][0-9].bin)
    hints=$(sed 's/^/--root=/' "$dir/roots" | tr '\n' ' ')
    if [ ! -e "$dir/hinted" ]; then
        # shellcheck disable=SC2086
        "$bin" json $ups >"$tmp/out.json" 2>"$tmp/err" || fail "$name: json exited $? ($(cat "$tmp/err"))"
        same_json "$tmp/out.json" "$dir/expected.json" ||
            fail "$name: json (inferred roots) $(cat "$tmp/out.json") != $(cat "$dir/expected.json")"
        if [ -e "$dir/exact" ]; then
            cmp -s "$tmp/out.json" "$dir/expected.json" ||
                fail "$name: json is not byte for byte JSON.stringify's: $(cat "$tmp/out.json")"
        fi
    fi
    # shellcheck disable=SC2086
    "$bin" json $hints $ups >"$tmp/out.json" 2>"$tmp/err" || fail "$name: json --root exited $?"
    same_json "$tmp/out.json" "$dir/expected.json" ||
        fail "$name: json (hinted) $(cat "$tmp/out.json") != $(cat "$dir/expected.json")"
    # shellcheck disable=SC2086
    "$bin" sv $ups >"$tmp/sv.json" || fail "$name: sv exited $?"
    same_json "$tmp/sv.json" "$dir/sv.json" || fail "$name: sv $(cat "$tmp/sv.json") != $(cat "$dir/sv.json")"
    for op in encode merge; do
        # shellcheck disable=SC2086
        "$bin" $op $ups >"$tmp/$op.bin" || fail "$name: $op exited $?"
        cmp -s "$tmp/$op.bin" "$dir/$op.bin" || fail "$name: $op bytes differ from yjs's"
    done
    # shellcheck disable=SC2086
    "$bin" diff "$dir/diff-sv.bin" $ups >"$tmp/diff.bin" || fail "$name: diff exited $?"
    cmp -s "$tmp/diff.bin" "$dir/diff.bin" || fail "$name: diff bytes differ from yjs's"
    # Our own encoding reads back to the same document.
    "$bin" json $hints "$tmp/encode.bin" >"$tmp/back.json" || fail "$name: json of encode exited $?"
    same_json "$tmp/back.json" "$dir/expected.json" || fail "$name: encode does not read back"
done

# ---- errors ----------------------------------------------------------------------------------
good=$(ls "$vectors"/notebook/[0-9][0-9].bin | head -n 1)
head -c 20 "$good" >"$tmp/truncated.bin"
for cmd in json encode sv merge; do
    "$bin" $cmd "$good" "$tmp/truncated.bin" >/dev/null 2>"$tmp/err"
    rc=$?
    [ $rc = 2 ] || fail "$cmd on a truncated update exited $rc, want 2"
    grep -q "truncated.bin" "$tmp/err" && grep -q "byte [0-9]" "$tmp/err" ||
        fail "$cmd: the message does not name the file and the offset: $(cat "$tmp/err")"
done
"$bin" diff "$tmp/truncated.bin" "$good" >/dev/null 2>"$tmp/err"
[ $? = 2 ] && grep -q "truncated.bin" "$tmp/err" || fail "diff with a malformed state vector"
printf '\001\001' >"$tmp/trailing.bin"
"$bin" json "$tmp/trailing.bin" >/dev/null 2>&1
[ $? = 2 ] || fail "a truncated update of two bytes was accepted"
for args in "" "bogus" "json" "diff $good" "json --root x=tree $good" "sv --nope $good"; do
    # shellcheck disable=SC2086
    "$bin" $args >/dev/null 2>"$tmp/err"
    rc=$?
    [ $rc = 2 ] || fail "'tandem-ydoc $args' exited $rc, want 2"
    grep -q "usage:" "$tmp/err" || fail "'tandem-ydoc $args' printed no usage text"
done
"$bin" json "$tmp/does-not-exist.bin" >/dev/null 2>&1
[ $? = 1 ] || fail "a missing file should exit 1"
"$bin" --help >"$tmp/help" 2>&1 && grep -q "usage:" "$tmp/help" || fail "--help"
"$bin" json - <"$good" >/dev/null || fail "reading stdin with -"

[ $fails = 0 ] && echo "tandem-ydoc: all checks passed" && exit 0
echo "tandem-ydoc: $fails checks failed"
exit 1
