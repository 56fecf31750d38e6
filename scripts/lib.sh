# Shared by the LabDesk scripts: set-up that a fresh Debian 12 machine with Rust and Node lacks.
# Sourced, not run.

# Builds live outside the clone so a fresh clone (CI) builds incrementally.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/labdesk/target}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# apt-get install with the retry this image needs: a first install can fail with
# "dpkg-deb: error: failed to read archive" (seen on the Debian 12 image: the .deb files vanish between dpkg passes).
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing system packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
    for attempt in 1 2 3; do
        if $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"; then
            return 0
        fi
        say "apt-get install failed (attempt $attempt); repairing and retrying"
        $sudo apt-get -f install -y -qq || true
    done
    echo "could not install ${missing[*]}; install them by hand and run this again" >&2
    return 1
}

# A C compiler (SQLite is compiled in), and rustfmt and clippy for the checks.
ensure_build_tools() {
    command -v cc >/dev/null 2>&1 || apt_install build-essential
    if command -v rustup >/dev/null 2>&1; then
        cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
        cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
    fi
}

# A PostgreSQL to work against: $DATABASE_URL when given, else a throwaway cluster made with
# initdb/pg_ctl in a temp folder, stopped and removed when the calling script exits.
# Sets DATABASE_URL.
start_postgres() {
    if [ -n "${DATABASE_URL:-}" ]; then
        say "using the PostgreSQL at DATABASE_URL"
        return 0
    fi
    local bindir
    bindir=$(pg_bindir) || { apt_install postgresql && bindir=$(pg_bindir); } || {
        echo "no initdb/pg_ctl found even after installing postgresql" >&2
        return 1
    }
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/labdesk-pg.XXXXXX")
    local as=()
    if [ "$(id -u)" -eq 0 ]; then
        # initdb refuses to run as root: run the cluster as the postgres system user.
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        chown postgres "$PG_DIR"
        as=(runuser -u postgres --)
    fi
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "${as[@]}" "$bindir/initdb" -D "$PG_DIR/data" -U labdesk --auth=trust -E UTF8 >/dev/null
    "${as[@]}" "$bindir/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -o \
        "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$PG_DIR -c fsync=off" start >/dev/null
    PG_STOP=("${as[@]}" "$bindir/pg_ctl" -D "$PG_DIR/data" -m immediate stop)
    trap stop_postgres EXIT
    "$bindir/createdb" -h 127.0.0.1 -p "$port" -U labdesk labdesk
    export DATABASE_URL="postgres://labdesk@127.0.0.1:$port/labdesk"
    say "throwaway PostgreSQL running at $DATABASE_URL (removed on exit)"
}

stop_postgres() {
    [ -n "${PG_DIR:-}" ] || return 0
    "${PG_STOP[@]}" >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    PG_DIR=""
}

# Where initdb and pg_ctl live: on PATH, or Debian's versioned folder.
pg_bindir() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
        return 0
    fi
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

# What the desktop app needs to build (Tauri 2 on WebKitGTK), to run in a window under test
# (Xvfb), to be driven (WebKitWebDriver), and the browser for the UI tests (Chromium).
# Tauri 2 on WebKitGTK needs these -dev packages; xvfb/xauth for the window, webkit2gtk-driver to drive it.
ensure_desktop_deps() {
    apt_install libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev \
        libsoup-3.0-dev libdbus-1-dev build-essential file libssl-dev pkg-config \
        xvfb xauth webkit2gtk-driver chromium fonts-noto-color-emoji
}

# tauri-driver, the WebDriver front for the real app's window (a Rust tool: cargo install).
ensure_tauri_driver() {
    command -v tauri-driver >/dev/null 2>&1 && return 0
    say "installing tauri-driver (cargo install, about a minute)"
    cargo install tauri-driver --locked --version '^2' -q
}

# The web UI's packages (exactly the locked ones) and its production build (ui/dist), which the
# desktop app embeds at compile time.
build_ui() {
    say "building the UI (npm ci, vite build)"
    (cd ui && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; } && npm run -s build)
}
