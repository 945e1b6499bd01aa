#!/bin/sh
# nbformat_check: every notebooks/*.ipynb loaded by td_ynotebook and exported (strings, and line
# lists as nbformat writes files) must validate with Debian's nbformat. Skips (77) without it.
# Usage: nbformat_check.sh YNB_DRIVER
set -eu
driver=$1
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
if ! $py -c 'import nbformat' 2>/dev/null; then
    echo "SKIP: python3-nbformat is not installed"; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for nb in "$here"/notebooks/*.ipynb; do
    name=$(basename "$nb" .ipynb)
    "$driver" load "$nb" "$tmp/$name.bin"
    "$driver" export "$tmp/$name.bin" "$tmp/$name.json"
    "$driver" export "$tmp/$name.bin" "$tmp/$name.split.json" split
done
$py - "$tmp" <<'PY'
import glob, json, sys
import nbformat
files = sorted(glob.glob(sys.argv[1] + "/*.json"))
assert files, "no exports"
for f in files:
    with open(f, encoding="utf-8") as fh:
        nb = json.load(fh)
    nbformat.validate(nb)                       # the dict as exported
    assert nb["nbformat"] == 4 and nb["nbformat_minor"] == 5, f
    assert all("execution_state" not in c and c.get("id") for c in nb["cells"]), f
    nbformat.validate(nbformat.reads(json.dumps(nb), as_version=4))
    if f.endswith(".split.json"):
        # Our line lists are nbformat's own split_lines of the string export.
        with open(f[: -len(".split.json")] + ".json", encoding="utf-8") as fh:
            plain = nbformat.reads(fh.read(), as_version=4)
        assert json.loads(nbformat.writes(plain)) == nb, f
    print("valid", f.rsplit("/", 1)[1])
PY
