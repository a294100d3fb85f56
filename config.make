# Appended to nginx's objs/Makefile by ./configure: builds the Rust static
# library the module is linked from. make cannot see Rust dependencies, so
# the rule always runs and cargo decides whether anything changed.
# NGINX_BUILD_DIR points nginx-sys at this very build's objs/, so the
# bindings match the nginx being built.

cat <<END >> $NGX_MAKEFILE

$ngx_websocket_lib: ngx_websocket_cargo_always
	NGINX_SOURCE_DIR="\$\$(pwd)" NGINX_BUILD_DIR="\$\$(pwd)/$NGX_OBJS" \\
	${NGX_CARGO:-cargo} rustc --quiet --lib --crate-type staticlib \\
		--manifest-path "$ngx_addon_dir/Cargo.toml" -p ngx-websocket \\
		--no-default-features --profile $ngx_websocket_cargo_profile \\
		--target-dir "$ngx_websocket_cargo_dir"

ngx_websocket_cargo_always:

END

case " $DYNAMIC_MODULES " in
    *" ngx_http_websocket_module "*)
    cat <<END >> $NGX_MAKEFILE
$NGX_OBJS${ngx_dirsep}ngx_http_websocket_module$ngx_modext: $ngx_websocket_lib

END
    ;;
esac
