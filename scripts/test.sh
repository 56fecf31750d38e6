#!/usr/bin/env bash
# Runs every LabDesk test: formatting, lints, unit, integration, property and crash tests.
# Sets up what it needs on a fresh Debian 12 machine that has only Rust and Node.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_build_tools
# The sync tests run against a real PostgreSQL: $DATABASE_URL when given, else a throwaway
# cluster the test kit makes with initdb/pg_ctl (crates/labdesk-testkit).
[ -n "${DATABASE_URL:-}" ] || pg_bindir >/dev/null || apt_install postgresql

say "formatting (cargo fmt --check)"
cargo fmt --all --check

say "lints (cargo clippy -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "tests"
log=$(mktemp)
status=0
cargo test --workspace --locked 2>&1 | tee "$log" || status=$?
# cargo's own last lines are the (empty) doc-test summaries: close with the whole run's totals.
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' "$log"
rm -f "$log"
exit "$status"
