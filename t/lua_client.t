# The Lua path users come from: Debian's nginx with its Lua module
# (libnginx-mod-http-lua, with NDK) loaded next to this module, and the
# lua-resty-websocket client users already have (Debian's
# lua-nginx-websocket installs it as nginx.websocket.*). A content_by_lua
# location in the same nginx uses that client against this module's echo
# location: text, binary, a fragmented and a large message, a ping, a
# close with a code, a protocol error, and wss:// through nginx's TLS.
#
# Debian target only: the Lua module .so is built for Debian's nginx
# 1.22.1 and cannot load into another nginx.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Cwd qw(abs_path);
use Digest::MD5 qw(md5_hex);
use Test::More;
use WsTest;

my $MODDIR = '/usr/lib/nginx/modules';
my $binary = $ENV{TEST_NGINX_BINARY} // '';
my $target = $ENV{TEST_NGINX_TARGET} // '';
unless (($binary && -e $binary && abs_path($binary) eq '/usr/sbin/nginx') || $target eq 'debian') {
    plan skip_all => "the Lua module (libnginx-mod-http-lua) is built for Debian's "
        . "/usr/sbin/nginx only; this target is " . ($target || "nginx") . " ($binary)";
}

# On the Debian target the packages must be there: missing means the setup
# is broken (scripts/test installs them), not that there is nothing to test.
my @need = ("$MODDIR/ndk_http_module.so", "$MODDIR/ngx_http_lua_module.so",
    '/usr/share/lua/5.1/nginx/websocket/client.lua');
for my $f (@need) {
    ok -f $f, "$f is installed" or diag
        "install libnginx-mod-http-lua and lua-nginx-websocket (scripts/lib.sh: ensure_lua_deps)";
}
BAIL_OUT("Lua packages missing") if grep { !-f } @need;

my $config = <<'EOF';
# NDK first: the Lua module depends on it.
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
%%TEST_GLOBALS%%
events { worker_connections 1024; }
http {
    %%TEST_GLOBALS_HTTP%%
    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT2%% ssl;
        server_name localhost;
        ssl_certificate %%CERT%%;
        ssl_certificate_key %%KEY%%;

        location = /echo {
            websocket_echo;
        }

        # Each check prints one tab-separated line; t/lua_client.t asserts.
        location = /lua {
            content_by_lua_block {
                local client = require "nginx.websocket.client"

                local function out(...)
                    ngx.say(table.concat({...}, "\t"))
                end

                -- One message: frames marked "again" (FIN not set) are
                -- joined; the module streams frames over 16 KiB back as
                -- fragments, so a client must do this for large messages.
                local function recv_message(wb)
                    local parts, first, frames = {}, nil, 0
                    while true do
                        local data, typ, err = wb:recv_frame()
                        if not data then
                            return nil, "error", err
                        end
                        frames = frames + 1
                        if typ ~= "continuation" then first = typ end
                        parts[#parts + 1] = data
                        if typ == "close" or typ == "ping" or typ == "pong" then
                            return data, typ, err
                        end
                        if err ~= "again" then
                            return table.concat(parts), first, frames
                        end
                    end
                end

                local wb = client:new{ timeout = 5000, max_payload_len = 1048576 }
                local ok, err = wb:connect("ws://127.0.0.1:" .. ngx.var.server_port .. "/echo")
                out("connect", ok and "ok" or tostring(err))
                if not ok then return end

                wb:send_text("hello from lua")
                local data, typ = recv_message(wb)
                out("text", typ, data)

                local bytes = {}
                for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
                local bin = string.rep(table.concat(bytes), 4)
                wb:send_binary(bin)
                data, typ = recv_message(wb)
                out("binary", typ, ngx.md5(data or ""), #(data or ""))

                wb:send_frame(false, 0x1, "frag-")
                wb:send_frame(true, 0x0, "mented")
                data, typ = recv_message(wb)
                out("fragmented", typ, data)

                local big = string.rep("0123456789abcdef", 12500)
                wb:send_binary(big)
                local frames
                data, typ, frames = recv_message(wb)
                out("large", typ, ngx.md5(data or ""), #(data or ""), frames)

                wb:send_ping("lua-ping")
                data, typ = recv_message(wb)
                out("ping", typ, data)

                wb:send_close(4001, "lua done")
                local code
                data, typ, code = recv_message(wb)
                out("close", typ, tostring(code), data)
                data, typ, err = wb:recv_frame()
                out("after-close", tostring(data), tostring(err))
                wb.sock:close()

                -- A protocol error: the module closes with 1007 and a reason.
                wb = client:new{ timeout = 5000 }
                ok, err = wb:connect("ws://127.0.0.1:" .. ngx.var.server_port .. "/echo")
                wb:send_text("\xff not utf-8")
                data, typ, code = recv_message(wb)
                out("bad-utf8", typ, tostring(code), data)
                wb.sock:close()

                -- wss:// through nginx's TLS (self-signed: no verification).
                wb = client:new{ timeout = 5000 }
                ok, err = wb:connect("wss://127.0.0.1:%%PORT2%%/echo")
                out("wss-connect", ok and "ok" or tostring(err))
                if not ok then return end
                wb:send_text("hello over tls")
                data, typ = recv_message(wb)
                out("wss-text", typ, data)
                wb:send_close(1000)
                data, typ, code = recv_message(wb)
                out("wss-close", typ, tostring(code))
                wb.sock:close()
            }
        }
    }
}
EOF

my $t = WsTest->new;
$t->make_cert;
$t->write_config($config);
my ($rc, $out) = $t->nginx_t;
is $rc, 0, 'nginx -t with the Lua module loaded next to this one' or diag $out;
$t->run;

my $r = $t->http("GET /lua HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    timeout => 30);
is $r->{status}, 200, 'the content_by_lua location answers 200' or diag $r->{raw};
my %got;
for (split /\n/, $r->{body} // '') {
    my ($k, @v) = split /\t/, $_, -1;
    $got{$k} = \@v;
}
note $r->{body};

my $bin = join('', map { chr } 0 .. 255) x 4;
my $big = '0123456789abcdef' x 12500;
is_deeply $got{connect}, ['ok'], 'the Lua client connects to the echo location';
is_deeply $got{text}, ['text', 'hello from lua'], 'text echoes as text';
is_deeply $got{binary}, ['binary', md5_hex($bin), length $bin],
    'binary (all byte values) echoes as binary';
is_deeply $got{fragmented}, ['text', 'frag-mented'], 'a fragmented text message echoes';
is_deeply [ @{ $got{large} // [] }[0 .. 2] ], ['binary', md5_hex($big), length $big],
    'a 200 KB binary message echoes (joined from the fragments the module streams)';
is_deeply $got{ping}, ['pong', 'lua-ping'], 'a ping gets a pong with the same payload';
is_deeply $got{close}, ['close', '4001', ''], 'close 4001 is answered with close 4001';
like +($got{'after-close'} // [])->[1] // '', qr/closed/, 'then the server closes the TCP connection';
my ($typ, $code, $reason) = @{ $got{'bad-utf8'} // [] };
ok +($typ // '') eq 'close' && ($code // '') eq '1007', 'invalid UTF-8 gets close 1007'
    or diag explain $got{'bad-utf8'};
like $reason // '', qr/UTF-8/, '... with the reason in the close frame';
is_deeply $got{'wss-connect'}, ['ok'], 'the Lua client connects over wss://';
is_deeply $got{'wss-text'}, ['text', 'hello over tls'], 'text echoes over wss://';
is_deeply $got{'wss-close'}, ['close', '1000'], 'close 1000 over wss://';

unlike $t->error_log, qr/\[error\].*lua/, 'no Lua errors in the error log'
    or diag $t->error_log;
$t->stop;

# The snippet in README.md ("From lua-resty-websocket") runs as shown, with
# only the paths, the port and the test's globals filled in.
my $readme = WsTest::_slurp("$WsTest::ROOT/README.md");
my ($section) = $readme =~ /^## From lua-resty-websocket\n(.*?)^## /ms;
my ($snippet) = grep { /content_by_lua_block/ } ($section // '') =~ /^```nginx\n(.*?)^```$/msg;
ok $snippet, 'README.md has the Lua client snippet';
$snippet //= '';
my $filled = $snippet;
ok $filled =~ s#^load_module /path/to/ngx_http_websocket_module\.so;.*$#%%TEST_GLOBALS%%\nevents { worker_connections 64; }#m
    && $filled =~ s#^http \{$#http {\n    %%TEST_GLOBALS_HTTP%%#m
    && $filled =~ s#listen 8080;#listen 127.0.0.1:%%PORT%%;#
    && $filled =~ s#ws://127\.0\.0\.1:8080/#ws://127.0.0.1:%%PORT%%/#,
    'the snippet has the expected load_module, http, listen and connect lines'
    or diag $snippet;
my $t2 = WsTest->new;
$t2->write_config($filled);
$t2->run;
$r = $t2->http("GET /lua HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    timeout => 20);
is $r->{body}, "close 1000\n", 'the README snippet prints "close 1000"' or diag $r->{raw};
$t2->stop;
done_testing;
