# shellcheck shell=bash
# Shared helpers for the scripts/ entry points: dependency installation and the
# three nginx targets (embedded 1.28.3, Debian's stock 1.22.1, and the module
# built by nginx's own ./configure --add-dynamic-module). Every step is
# idempotent and silent when there is nothing to do.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build"
MODULE_NAME=ngx_http_websocket_module

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run as root directly, or through sudo when available.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_apt PKG...: install the Debian packages that are not installed yet.
ensure_apt() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing apt packages: ${missing[*]}"
    local apt_log
    apt_log=$(mktemp)
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$apt_log" 2>&1 \
        || ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "${missing[@]}" >>"$apt_log" 2>&1; then
        tail -20 "$apt_log" >&2
        rm -f "$apt_log"
        die "apt-get install ${missing[*]} failed"
    fi
    rm -f "$apt_log"
}

# Build prerequisites for nginx and for bindgen inside nginx-sys.
ensure_build_deps() {
    ensure_apt build-essential pkg-config libpcre2-dev libssl-dev zlib1g-dev \
        libclang-dev libclang-common-14-dev
}

# Debian's nginx and the files needed to build modules for it.
ensure_debian_nginx() {
    ensure_apt nginx nginx-dev
}

# Perl and Python clients used by t/.
ensure_test_deps() {
    ensure_apt perl libtest-base-perl libprotocol-websocket-perl libipc-run-perl
    if ! python3 -c 'import websockets' 2>/dev/null; then
        log "installing Python package websockets"
        python3 -m pip install --quiet --disable-pip-version-check 'websockets>=12'
    fi
}

# openssl makes the self-signed certificates of t/tls.t, t/browser.t and
# t/lua_client.t at test time.
ensure_tls_deps() {
    ensure_apt openssl
}

# Debian's Chromium and playwright-core (pinned in t/browser/package-lock.json)
# for t/browser.t. npm installs only playwright-core into t/browser/node_modules
# and never downloads a browser. playwright-core needs Node.js 20 or later.
ensure_browser_deps() {
    ensure_apt chromium
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        ensure_apt nodejs npm
    fi
    local dir="$ROOT/t/browser" want have npm_log
    want=$(node -p 'require(process.argv[1]).packages["node_modules/playwright-core"].version' \
        "$dir/package-lock.json")
    have=$(node -p 'require(process.argv[1]).version' \
        "$dir/node_modules/playwright-core/package.json" 2>/dev/null || true)
    [ "$want" = "$have" ] && return 0
    log "installing playwright-core $want into t/browser (npm ci)"
    npm_log=$(mktemp)
    if ! (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
        npm ci --no-audit --no-fund --loglevel=error >"$npm_log" 2>&1); then
        tail -20 "$npm_log" >&2
        rm -f "$npm_log"
        die "npm ci in t/browser failed"
    fi
    rm -f "$npm_log"
}

# Debian's Lua module for its nginx and the lua-resty-websocket client it
# packages as nginx.websocket.* (t/lua_client.t). lua-nginx-websocket depends
# on nginx-extras, which installs (and enables for /etc/nginx) Debian's other
# dynamic modules too; the tests load only NDK and Lua, by path.
ensure_lua_deps() {
    ensure_apt libnginx-mod-http-lua lua-nginx-websocket
}

# Path of the nginx source shipped in the nginx-src crate (fetched by cargo).
nginx_src_crate_dir() {
    (cd "$ROOT" && cargo fetch --quiet >/dev/null 2>&1 || cargo fetch)
    (cd "$ROOT" && cargo metadata --format-version 1 --features vendored 2>/dev/null) \
        | python3 -c '
import json, os, sys
d = json.load(sys.stdin)
for p in d["packages"]:
    if p["name"] == "nginx-src":
        print(os.path.join(os.path.dirname(p["manifest_path"]), "nginx"))
        break
'
}

EMBEDDED_VERSION=1.28.3
EMBEDDED_DIR="$BUILD/nginx-$EMBEDDED_VERSION"
EMBEDDED_CONFIGURE_ARGS=(--with-compat --with-threads --with-http_ssl_module
    --with-http_v2_module --with-http_realip_module --with-stream)

# Configure and make the embedded nginx into build/nginx-1.28.3 (objs/nginx).
build_embedded_nginx() {
    ensure_build_deps
    local stamp="$EMBEDDED_DIR/.configured" args="${EMBEDDED_CONFIGURE_ARGS[*]}"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$args" ]; then
        local src
        src=$(nginx_src_crate_dir)
        [ -x "$src/auto/configure" ] || die "nginx source not found in the nginx-src crate ($src)"
        log "configuring nginx $EMBEDDED_VERSION in $EMBEDDED_DIR"
        rm -rf "$EMBEDDED_DIR"
        mkdir -p "$BUILD"
        cp -r "$src" "$EMBEDDED_DIR"
        (cd "$EMBEDDED_DIR" && ./auto/configure "${EMBEDDED_CONFIGURE_ARGS[@]}" >configure.log 2>&1) \
            || { tail -20 "$EMBEDDED_DIR/configure.log"; die "nginx configure failed"; }
        echo "$args" >"$stamp"
    fi
    if [ ! -x "$EMBEDDED_DIR/objs/nginx" ]; then
        log "building nginx $EMBEDDED_VERSION"
        make -C "$EMBEDDED_DIR" -j"$(nproc)" >"$EMBEDDED_DIR/make.log" 2>&1 \
            || { tail -30 "$EMBEDDED_DIR/make.log"; die "nginx build failed"; }
    fi
}

DEBIAN_DIR="$BUILD/debian-nginx"

# Configure Debian's nginx source tree (from nginx-dev) with the flags its
# binary was built with, so that a module built against it is binary
# compatible with /usr/sbin/nginx. Only objs/ (Makefile, ngx_auto_config.h)
# is needed; nginx itself is not compiled.
configure_debian_nginx() {
    ensure_build_deps
    ensure_debian_nginx
    local version stamp="$DEBIAN_DIR/.configured"
    version=$(dpkg-query -W -f='${Version}' nginx-dev)
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ] && return 0
    log "configuring Debian's nginx source ($version) in $DEBIAN_DIR"
    rm -rf "$DEBIAN_DIR"
    mkdir -p "$BUILD"
    cp -r /usr/share/nginx/src "$DEBIAN_DIR"
    (
        cd "$DEBIAN_DIR"
        # shellcheck disable=SC1091
        . ./conf_flags
        ./configure \
            --with-cc-opt="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS) -fPIC" \
            --with-ld-opt="$(dpkg-buildflags --get LDFLAGS) -fPIC" \
            "${NGX_CONF_FLAGS[@]}" >configure.log 2>&1
    ) || { tail -20 "$DEBIAN_DIR/configure.log"; die "configure of Debian's nginx source failed"; }
    echo "$version" >"$stamp"
}

# build_module TARGET: build the cdylib against one nginx build directory.
# TARGET is "embedded" or "debian"; prints the path of the .so.
build_module() {
    local target=$1 dir
    case "$target" in
        embedded) build_embedded_nginx; dir=$EMBEDDED_DIR ;;
        debian) configure_debian_nginx; dir=$DEBIAN_DIR ;;
        *) die "unknown target $target" ;;
    esac
    # `|| die`: inside the $(...) callers use, `set -e` does not apply, and
    # a failed build must not leave the previous .so to be tested.
    (
        cd "$ROOT"
        NGINX_SOURCE_DIR="$dir" NGINX_BUILD_DIR="$dir/objs" \
            cargo build --quiet --release -p ngx-websocket --target-dir "target/$target"
    ) >&2 || die "cargo build of the module for $target failed"
    local so="$ROOT/target/$target/release/lib$MODULE_NAME.so"
    [ -f "$so" ] || die "module was not built: $so"
    echo "$so"
}

# The nginx binary for a target.
nginx_binary() {
    case "$1" in
        embedded|addon) echo "$EMBEDDED_DIR/objs/nginx" ;;
        debian) echo /usr/sbin/nginx ;;
        *) die "unknown target $1" ;;
    esac
}

ADDON_DIR="$BUILD/addon-nginx-$EMBEDDED_VERSION"

# Build the module the way OpenResty and source-built nginx users do:
# ./configure --with-compat --add-dynamic-module=<this repo> && make modules.
# The resulting .so must load into the embedded nginx binary.
build_addon_module() {
    build_embedded_nginx
    local so="$ADDON_DIR/objs/$MODULE_NAME.so"
    if [ ! -f "$ADDON_DIR/.configured" ]; then
        log "configuring nginx $EMBEDDED_VERSION with --add-dynamic-module=$ROOT"
        rm -rf "$ADDON_DIR"
        cp -r "$(nginx_src_crate_dir)" "$ADDON_DIR"
        (cd "$ADDON_DIR" && ./auto/configure "${EMBEDDED_CONFIGURE_ARGS[@]}" \
            --add-dynamic-module="$ROOT" >configure.log 2>&1) \
            || { tail -20 "$ADDON_DIR/configure.log"; die "configure with --add-dynamic-module failed"; }
        touch "$ADDON_DIR/.configured"
    fi
    # cargo decides whether anything changed; make always asks it.
    make -C "$ADDON_DIR" -j"$(nproc)" modules >"$ADDON_DIR/make.log" 2>&1 \
        || { tail -30 "$ADDON_DIR/make.log"; die "make modules failed"; }
    [ -f "$so" ] || die "make modules did not produce $so"
    echo "$so"
}

# --- Fuzzing (codec/fuzz, a cargo-fuzz crate outside the workspace) ---------

FUZZ_DIR="$ROOT/codec/fuzz"
# New inputs a run finds go here, never into the committed corpus.
FUZZ_SCRATCH="$BUILD/fuzz"
# The codec has no unsafe code, so no sanitizer by default (twice the
# executions); FUZZ_SANITIZER=address brings ASan back.
FUZZ_SANITIZER=${FUZZ_SANITIZER:-none}

# cargo fuzz needs nightly flags; RUSTC_BOOTSTRAP lets the stable toolchain
# accept them. Debug assertions (and so overflow checks) are on.
cargo_fuzz() {
    local cmd=$1
    shift
    (cd "$FUZZ_DIR" && RUSTC_BOOTSTRAP=1 cargo fuzz "$cmd" --debug-assertions \
        --sanitizer "$FUZZ_SANITIZER" "$@")
}

# Install cargo-fuzz (from crates.io) and a C++ compiler for libFuzzer if
# missing. Fails loudly: a fuzz run that cannot happen must not look passed.
ensure_cargo_fuzz() {
    command -v c++ >/dev/null 2>&1 || ensure_apt g++
    cargo fuzz --version >/dev/null 2>&1 && return 0
    log "installing cargo-fuzz (cargo install, takes a few minutes)"
    cargo install --quiet --locked cargo-fuzz \
        || die "cannot install cargo-fuzz (is crates.io reachable?): fuzz targets not run"
    cargo fuzz --version >/dev/null 2>&1 || die "cargo fuzz still not available after install"
}

# The fuzz targets, one name a line.
fuzz_targets() {
    local f
    for f in "$FUZZ_DIR"/fuzz_targets/*.rs; do
        basename "$f" .rs
    done
}

# run_fuzz SECONDS TARGET...: build, then fuzz each target for SECONDS,
# starting from its committed corpus (codec/fuzz/corpus/TARGET) plus what
# earlier runs found (build/fuzz/corpus/TARGET). Prints one line a target;
# on a crash, hang or OOM prints the panic message and the artifact path,
# and returns non-zero after trying every target.
run_fuzz() {
    local secs=$1 t log status=0
    shift
    ensure_cargo_fuzz
    local known
    known=" $(fuzz_targets | tr '\n' ' ') "
    for t in "$@"; do
        [[ $known == *" $t "* ]] || die "unknown fuzz target '$t' (known:$known)"
    done
    mkdir -p "$FUZZ_SCRATCH/logs"
    log "building fuzz targets (cargo fuzz build)"
    if ! cargo_fuzz build >"$FUZZ_SCRATCH/logs/build.log" 2>&1; then
        tail -30 "$FUZZ_SCRATCH/logs/build.log" >&2
        die "cargo fuzz build failed"
    fi
    for t in "$@"; do
        mkdir -p "$FUZZ_SCRATCH/corpus/$t"
        log="$FUZZ_SCRATCH/logs/$t.log"
        log "fuzzing $t for ${secs}s (log: $log)"
        if cargo_fuzz run "$t" "$FUZZ_SCRATCH/corpus/$t" "$FUZZ_DIR/corpus/$t" -- \
            -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 >"$log" 2>&1; then
            printf '    %s: %s runs, %s\n' "$t" \
                "$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)" \
                "$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)' "$log" | tail -1 \
                    | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [^ ]+')" >&2
        else
            status=1
            # The panic message (or libFuzzer's verdict), not the backtrace.
            grep -E -m1 -A8 'panicked at|^==[0-9]+== ?ERROR|ERROR: libFuzzer' "$log" >&2 \
                || tail -40 "$log" >&2
            local artifacts
            artifacts=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log")
            printf 'FUZZ FAILURE in %s; artifact: %s\n' "$t" "${artifacts:-none written (see $log)}" >&2
            printf '    reproduce: (cd codec/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -a -s %s %s %s)\n' \
                "$FUZZ_SANITIZER" "$t" "${artifacts:-ARTIFACT}" >&2
        fi
    done
    return $status
}

# The short fuzz pass of scripts/test: every target for FUZZ_SMOKE_SECONDS
# (default 20) each; 0 skips it, saying so.
run_fuzz_smoke() {
    local targets
    if [ "${FUZZ_SMOKE_SECONDS:-20}" = 0 ]; then
        log "fuzz smoke run SKIPPED (FUZZ_SMOKE_SECONDS=0)"
        return 0
    fi
    mapfile -t targets < <(fuzz_targets)
    run_fuzz "${FUZZ_SMOKE_SECONDS:-20}" "${targets[@]}"
}
