#!/usr/bin/env bash
# Runs every LabDesk test: formatting, lints, unit, integration, property and crash tests, the
# sync tests against a real PostgreSQL, the UI's unit and browser tests, and the desktop app in a
# real window. Sets up what it needs on a fresh Debian 12 machine that has only Rust and Node.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_build_tools
ensure_desktop_deps
ensure_tauri_driver
# The sync tests run against a real PostgreSQL: $DATABASE_URL when given, else a throwaway
# cluster the test kit makes with initdb/pg_ctl (crates/labdesk-testkit).
[ -n "${DATABASE_URL:-}" ] || pg_bindir >/dev/null || apt_install postgresql

# The app embeds the built UI at compile time, so the UI is built before any cargo command.
build_ui

say "formatting (cargo fmt --check)"
cargo fmt --all --check

say "lints (cargo clippy -D warnings; tsc and eslint for the UI)"
cargo clippy --workspace --all-targets --locked -- -D warnings
(cd ui && npm run -s check)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

say "tests: Rust (core, CLI, sync server, end-to-end sync, the app in a window under Xvfb)"
cargo test --workspace --locked 2>&1 | tee -a "$log" || status=1

# cargo test wrote the TypeScript bindings afresh from the Rust types (ts-rs): the committed ones
# must be what the Rust types say, or the UI was type-checked against stale types.
if git rev-parse --git-dir >/dev/null 2>&1 && ! git diff --quiet -- ui/src/bindings; then
    git --no-pager diff --stat -- ui/src/bindings
    echo "test result: FAILED. 0 passed; 1 failed; the TypeScript bindings in ui/src/bindings are stale: commit what cargo test wrote" | tee -a "$log"
    status=1
fi

say "tests: UI units (Vitest)"
(cd ui && npx vitest run) 2>&1 | tee -a "$log" || status=1

say "tests: UI in headless Chromium (Playwright, IPC mocked)"
(cd ui && npx playwright test --reporter=list) 2>&1 | tee -a "$log" || status=1

# Close with the whole run's totals (cargo's own last lines are empty doc-test summaries).
sed 's/\x1b\[[0-9;]*m//g' "$log" | awk '
    /^test result:/ { passed += $4; failed += $6 }
    /^ +Tests +[0-9]/ { for (i = 2; i < NF; i++) { if ($(i+1) ~ /^passed/) passed += $i; if ($(i+1) ~ /^failed/) failed += $i } }
    /^ +[0-9]+ passed \(/ { passed += $1 }
    /^ +[0-9]+ failed$/ { failed += $1 }
    END { printf "%d passed, %d failed\n", passed, failed }'
exit "$status"
