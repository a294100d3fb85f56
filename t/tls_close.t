# The end of a wss:// connection, which no longer keeps its HTTP request:
# after the closing handshake the server sends TLS's close_notify before the
# TCP close (a clean TLS shutdown, not a truncation), whether the client or
# the server closed first, and the access log line is written. A raw TLS
# client (Python's ssl module with ragged EOFs reported) does the WebSocket
# handshake and frames by hand, so it sees exactly what the server sends.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use WsTest;

my $python = $ENV{TEST_NGINX_PYTHON} // 'python3';

my $t = WsTest->new;
my ($cert) = $t->make_cert;
$t->write_config(<<'EOF');
%%TEST_GLOBALS%%
events { worker_connections 64; }
http {
    %%TEST_GLOBALS_HTTP%%
    log_format ws '$request_uri by=$websocket_closed_by sent=$websocket_close_sent recv=$websocket_close_received';
    access_log %%PREFIX%%/logs/ws.log ws;
    server {
        listen 127.0.0.1:%%PORT%% ssl;
        ssl_certificate %%CERT%%;
        ssl_certificate_key %%KEY%%;
        location /ws { websocket_echo; }
        location /idle { websocket_echo; websocket_timeout 300ms; }
    }
}
EOF
$t->run;

my $client = <<'PY';
import base64, os, socket, ssl, struct, sys

cafile, port, path, who = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
raw = socket.create_connection(("127.0.0.1", port), timeout=10)
s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n" % (path, key)).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
head, buf = buf.split(b"\r\n\r\n", 1)
assert head.startswith(b"HTTP/1.1 101"), head

def frame(op, payload):
    mask = os.urandom(4)
    return bytes([0x80 | op, 0x80 | len(payload)]) + mask + bytes(
        b ^ mask[i % 4] for i, b in enumerate(payload))

def read_frame():
    global buf
    while len(buf) < 2 or len(buf) < 2 + (buf[1] & 0x7F):
        more = s.recv(4096)
        if not more:
            raise EOFError("EOF before a whole frame")
        buf += more
    n = buf[1] & 0x7F
    op, payload, buf = buf[0] & 0x0F, buf[2:2 + n], buf[2 + n:]
    return op, payload

if who == "client":
    s.sendall(frame(8, struct.pack(">H", 1000)))
    op, payload = read_frame()
    assert op == 8 and payload[:2] == struct.pack(">H", 1000), (op, payload)
else:
    while True:
        op, payload = read_frame()
        if op == 9:
            continue  # the keepalive ping: do not answer
        assert op == 8 and payload[:2] == struct.pack(">H", 1001), (op, payload)
        s.sendall(frame(8, struct.pack(">H", 1001)))
        break
try:
    rest = s.recv(4096)
    print("CLEAN" if rest == b"" else "DATA %r" % rest)
except ssl.SSLEOFError as e:
    print("RAGGED %s" % e)
except (ssl.SSLError, OSError) as e:
    print("ERROR %s" % e)
PY

for my $case (['client', '/ws'], ['server', '/idle']) {
    my ($who, $path) = @$case;
    my $tag = "tls$who" . int rand 1e6;
    my ($rc, $out) = $t->run_cmd($python, '-c', $client, $cert, $t->port, "$path?$tag", $who);
    is $rc, 0, "$who closes first: the TLS client ran" or diag $out;
    like $out, qr/^CLEAN$/m, "$who closes first: close_notify came before the TCP close" or diag $out;
    my $line = WsTest::wait_until(sub {
        (grep { /\Q$tag\E/ } split /\n/, WsTest::_slurp($t->prefix . '/logs/ws.log'))[0];
    }, 5);
    my $want = $who eq 'client' ? 'by=client sent=1000 recv=1000' : 'by=server sent=1001 recv=1001';
    like $line // '', qr/\Q$want\E$/, "$who closes first: logged ($want)";
}

$t->stop;
done_testing;
