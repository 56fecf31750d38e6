#!/usr/bin/env bash
# Workstations converging through a local sync server, step by step: a throwaway PostgreSQL,
# the sync server on it, a front desk and a technician's bench each with their own store, and
# a third workstation that joins later from the lab's snapshot.
# Run through `./scripts/run.sh sync-demo`. Everything is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_build_tools
start_postgres
say "building labdesk and labdesk-sync"
cargo build --release --locked -q -p labdesk-cli -p labdesk-sync
bin="$CARGO_TARGET_DIR/release"

demo=$(mktemp -d "${TMPDIR:-/tmp}/labdesk-demo.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
server_pid=""
finish() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$demo"
    stop_postgres
}
trap finish EXIT

step() { printf '\n\033[1;34m### %s\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

step "Headquarters: a lab, two users on two workstations, a token each"
token_a=$("$bin/labdesk-sync" setup --lab "Demo Lab" --user ann --workstation FD1 2>/dev/null)
token_b=$("$bin/labdesk-sync" setup --lab "Demo Lab" --user bob --workstation TB2 2>/dev/null)
echo "ann at the front desk (FD1) and bob at his bench (TB2) have their tokens"

step "The sync server, on the throwaway PostgreSQL"
"$bin/labdesk-sync" serve --listen "127.0.0.1:$port" 2>"$demo/server.log" &
server_pid=$!
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.05; done
echo "listening at $url"

desk() { run "$bin/labdesk" --data "$demo/front-desk" --user ann --workstation FD1 "$@"; }
bench() { run "$bin/labdesk" --data "$demo/bench" --user bob --workstation TB2 "$@"; }

step "Each workstation is set up and signs in once"
desk init
bench init
desk login --server "$url" --token "$token_a"
bench login --server "$url" --token "$token_b"

step "Offline, the front desk takes in a case and the bench another"
desk create --patient "Ada Lovelace" --due 2026-12-01 --service crown:zirconia --assignee bob
bench create --patient "Alan Turing" --due 2026-12-04 --service bridge:emax

step "They sync when they can, and both have both cases"
desk sync
bench sync
desk sync
desk list
bench list

step "Offline again: the desk makes Ada's case rush, the bench starts milling it (different fields)"
desk edit FD1-000001 --priority rush
bench edit FD1-000001 --set status=milling
step "...and both change its due date, to different days (the same field)"
desk edit FD1-000001 --due 2026-12-03
bench edit FD1-000001 --due 2026-12-05

step "Sync: both edits of different fields are kept; the due date is a conflict, visible to both"
desk sync
bench sync
desk sync
bench conflicts

step "Bob picks the date he proposed; everyone converges"
bench resolve FD1-000001 --pick due_date=proposed
bench sync
desk sync
desk show FD1-000001 | head -12
bench show FD1-000001 | head -12
step "A scan attached at the front desk goes up with its sync; the bench fetches it when it needs it"
printf 'solid upper_jaw\nendsolid upper_jaw\n' > "$demo/upper-jaw.stl"
desk attach FD1-000001 "$demo/upper-jaw.stl"
desk sync
bench sync
bench fetch FD1-000001
cmp "$demo/upper-jaw.stl" "$demo"/bench/blobs/*/* && echo "The bench has the very bytes the front desk attached."

step "A new workstation joins: headquarters builds the lab's snapshot, and the new one starts from it"
run "$bin/labdesk-sync" snapshot --lab "Demo Lab"
token_c=$("$bin/labdesk-sync" setup --lab "Demo Lab" --user cara --workstation QC3 2>/dev/null)
qc() { run "$bin/labdesk" --data "$demo/qc" --user cara --workstation QC3 "$@"; }
qc init
qc login --server "$url" --token "$token_c"
qc sync
qc list

same() { diff <("$bin/labdesk" --data "$demo/front-desk" --json list) <("$bin/labdesk" --data "$demo/$1" --json list) >/dev/null; }
if same bench && same qc; then
    step "All three workstations show exactly the same cases."
else
    step "The workstations differ — this is a bug; please report it with the output above."
    exit 1
fi
