#!/usr/bin/env bash
# Runs the Python interoperability client's tests against a real provledger server.
#
#   bash tools/python/run.sh [pytest args...]
#
# Creates a virtual environment (tools/python/.venv, or $PROVLEDGER_PY_VENV), installs
# requirements.txt, generates the gRPC stubs from proto/ into tools/python/generated/, and runs
# the tests. The server binary is $PROVLEDGER_BIN; when unset, the release build of this
# checkout is brought up to date with cargo and used.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

venv="${PROVLEDGER_PY_VENV:-$here/.venv}"
gen="$here/generated"

echo "== python client: virtual environment in ${venv#"$repo"/}"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
        -r "$here/requirements.txt"
    echo "$want" >"$stamp"
fi
py="$venv/bin/python"
"$py" --version

echo "== python client: stubs from proto/ into ${gen#"$repo"/}"
rm -rf "$gen"
mkdir -p "$gen"
"$py" -m grpc_tools.protoc -I "$repo/proto" --python_out="$gen" --grpc_python_out="$gen" \
    "$repo"/proto/provledger/v1/*.proto
ls "$gen/provledger/v1"

if [[ -z "${PROVLEDGER_BIN:-}" ]]; then
    echo "== python client: cargo build --release --bin provledger"
    cargo build --release --bin provledger
    PROVLEDGER_BIN="${CARGO_TARGET_DIR:-$repo/target}/release/provledger"
fi
case "$PROVLEDGER_BIN" in
/*) ;;
*) PROVLEDGER_BIN="$repo/$PROVLEDGER_BIN" ;;
esac
if [[ ! -x "$PROVLEDGER_BIN" ]]; then
    echo "error: no provledger binary at $PROVLEDGER_BIN" >&2
    exit 1
fi
export PROVLEDGER_BIN
echo "server binary: $PROVLEDGER_BIN"

echo "== python client: tests"
export PYTHONPATH="$here:$gen${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
cd "$here"
# -rP prints what each passing test checked; -rfE the failures and errors.
if [[ $# -eq 0 ]]; then set -- tests; fi
exec "$py" -m pytest -p no:cacheprovider -v -rfEP "$@"
