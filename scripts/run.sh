#!/usr/bin/env bash
# Starts LabDesk. Until the desktop window lands, LabDesk is its command-line client, `labdesk`:
# with no arguments this shows the store and its case list; any arguments go to `labdesk`
# (./scripts/run.sh create --patient "Ada Lovelace" --due 2026-12-01).
# `./scripts/run.sh sync-demo` shows two workstations converging through a local sync server.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

if [ "${1:-}" = "sync-demo" ]; then
    exec scripts/sync-demo.sh
fi

ensure_build_tools
cargo build --release --locked -q -p labdesk-cli
labdesk="$CARGO_TARGET_DIR/release/labdesk"

if [ $# -gt 0 ]; then
    exec "$labdesk" "$@"
fi
"$labdesk" init
echo
"$labdesk" list
echo
echo "Take in a case:   ./scripts/run.sh create --patient \"Ada Lovelace\" --due 2026-12-01 --service crown:zirconia"
echo "All commands:     ./scripts/run.sh --help"
