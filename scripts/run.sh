#!/usr/bin/env bash
# Starts LabDesk: the desktop app, signed in to a local sync server on a throwaway PostgreSQL,
# with a second workstation (a technician's bench, driven by the `labdesk` CLI) that has taken
# in a few cases, so the app shows sync at work from the first second. This is a demo session:
# the server, both stores and the database are removed when the window closes.
#
#   ./scripts/run.sh             the desktop app (a virtual display is started if there is none)
#   ./scripts/run.sh sync-demo   two CLI workstations converging, step by step, in the terminal
#   ./scripts/run.sh cli ARGS    the command-line client on a store of your own (kept)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

case "${1:-}" in
    sync-demo) exec scripts/sync-demo.sh ;;
    cli)
        shift
        ensure_build_tools
        cargo build --release --locked -q -p labdesk-cli
        exec "$CARGO_TARGET_DIR/release/labdesk" "$@"
        ;;
esac

ensure_build_tools
ensure_desktop_deps
build_ui
start_postgres
say "building the desktop app, labdesk and labdesk-sync (release; the first build takes a few minutes)"
cargo build --release --locked -q -p labdesk-desktop -p labdesk-cli -p labdesk-sync
bin="$CARGO_TARGET_DIR/release"

session=$(mktemp -d "${TMPDIR:-/tmp}/labdesk-session.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
server_pid="" xvfb_pid=""
finish() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null
    rm -rf "$session"
    stop_postgres
}
trap finish EXIT

me="${USER:-$(id -un)}"
desk_token=$("$bin/labdesk-sync" setup --lab "Local Lab" --user "$me" --workstation FD1 2>/dev/null)
bench_token=$("$bin/labdesk-sync" setup --lab "Local Lab" --user bob --workstation TB2 2>/dev/null)
"$bin/labdesk-sync" serve --listen "127.0.0.1:$port" 2>"$session/server.log" &
server_pid=$!
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.05; done
say "sync server at $url (log: $session/server.log)"

# The bench: a few cases taken in on another workstation, synced to the server.
bench() { "$bin/labdesk" --data "$session/bench" --user bob --workstation TB2 "$@" >/dev/null; }
bench init
bench login --server "$url" --token "$bench_token"
bench create --patient "Alan Turing" --due "$(date -u -d '+3 days' +%F)" --service crown:zirconia --priority high
bench create --patient "Grace Hopper" --due "$(date -u -d '-1 day' +%F)" --service bridge:emax --assignee bob
bench create --patient "Katherine Johnson" --due "$(date -u -d '+10 days' +%F)" --service implant:titanium
bench sync
# The desk: this app's store, signed in (no keychain in a bare session: the token goes to the
# store's credentials file, readable by you only).
"$bin/labdesk" --data "$session/desk" --user "$me" --workstation FD1 init >/dev/null
"$bin/labdesk" --data "$session/desk" --user "$me" --workstation FD1 login --server "$url" --token "$desk_token" >/dev/null

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    Xvfb :47 -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
    xvfb_pid=$!
    export DISPLAY=:47
    until xdpyinfo >/dev/null 2>&1 || [ -e /tmp/.X11-unix/X47 ]; do sleep 0.05; done
    say "no display here: the window is on the virtual display :47 (a screenshot, with ImageMagick: import -display :47 -window root shot.png)"
fi
say "LabDesk is starting; close the window to end the session"
# Warnings and the app's own milestones in the terminal; LABDESK_LOG=debug shows everything.
LABDESK_LOG="${LABDESK_LOG:-warn,labdesk_desktop=info,labdesk_core::sync=info}" \
    LABDESK_DATA="$session/desk" LABDESK_USER="$me" "$bin/labdesk-desktop"
