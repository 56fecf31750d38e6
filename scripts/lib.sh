# Shared by the LabDesk scripts: set-up that a fresh Debian 12 machine with Rust and Node lacks.
# Sourced, not run.

# Builds live outside the clone so a fresh clone (CI) builds incrementally.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/labdesk/target}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# apt-get install with the retry this image needs: a first install can fail with
# "dpkg-deb: error: failed to read archive" (docs: shared/design/desktop-facts.md).
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
    $sudo apt-get update -qq
    for attempt in 1 2 3; do
        if $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
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
