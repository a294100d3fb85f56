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
    (
        cd "$ROOT"
        NGINX_SOURCE_DIR="$dir" NGINX_BUILD_DIR="$dir/objs" \
            cargo build --quiet --release -p ngx-websocket --target-dir "target/$target"
    ) >&2
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
