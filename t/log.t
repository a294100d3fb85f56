# The access log line of a WebSocket is written when it ends, and carries
# the $websocket_* variables and the common ones: checked against what the
# test client did, for a client close, a server close (idle timeout, with and
# without the client's answer), a protocol error, a dropped connection, a
# connection that keeps its request (limit_conn), and wss://.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use WsTest qw(ws_frame close_payload);

my $python = $ENV{TEST_NGINX_PYTHON} // 'python3';

my $t = WsTest->new;
my ($cert, $key) = $t->make_cert;
$t->write_config(<<'EOF');
%%TEST_GLOBALS%%
events { worker_connections 64; }
http {
    %%TEST_GLOBALS_HTTP%%
    log_format ws 'uri=$request_uri status=$status by=$websocket_closed_by sent=$websocket_close_sent '
                  'recv=$websocket_close_received min=$websocket_messages_in mout=$websocket_messages_out '
                  'fin=$websocket_frames_in fout=$websocket_frames_out bin=$websocket_bytes_in '
                  'bout=$websocket_bytes_out dur=$websocket_duration rt=$request_time '
                  'proto=$websocket_protocol ext=$websocket_extensions ua="$http_user_agent" '
                  'ra=$remote_addr tl=[$time_local] host=$host hh=$http_host ref=$http_referer '
                  'orig=$http_origin xff=$http_x_forwarded_for req="$request" args=$args '
                  'scheme=$scheme bs=$bytes_sent';
    limit_conn_zone $binary_remote_addr zone=perip:1m;
    access_log %%PREFIX%%/logs/ws.log ws;
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name localhost;
        websocket_protocols chat;
        location /ws { websocket_echo; }
        location /idle { websocket_echo; websocket_timeout 400ms; }
        location /limited { websocket_echo; limit_conn perip 10; }
        location /plain { return 200 "plain"; }
    }
    server {
        listen 127.0.0.1:%%PORT2%% ssl;
        ssl_certificate %%CERT%%;
        ssl_certificate_key %%KEY%%;
        location /ws { websocket_echo; }
    }
}
EOF
$t->run;

# The log line for a tag, once written; parsed into a hash.
sub line_for {
    my ($tag, $timeout) = @_;
    my $line;
    WsTest::wait_until(sub {
        ($line) = grep { /\Q$tag\E/ } split /\n/, WsTest::_slurp($t->prefix . '/logs/ws.log');
        $line;
    }, $timeout // 5);
    return undef unless $line;
    return { WsTest::log_fields($line), line => $line };
}

sub tag { 'log' . int(rand 1e9) }

### a client close #########################################################
{
    my $tag = tag();
    # From before the request: $request_time counts the handshake too.
    my $t0 = time;
    my $c = $t->ws_connect("/ws?$tag", 'User-Agent' => 'ws-test/1.0', Referer => 'https://ref.example/page',
        Origin => 'https://origin.example', 'X-Forwarded-For' => '10.1.2.3', 'Sec-WebSocket-Protocol' => 'chat');
    $c->echo_ok(1, 'hello', 'text echoes');
    $c->send_raw(ws_frame(opcode => 2, fin => 0, payload => 'x' x 10)
        . ws_frame(opcode => 0, fin => 0, payload => '')
        . ws_frame(opcode => 0, fin => 1, payload => 'y' x 5));
    WsTest::Conn::message_is($c->read_message, 2, ('x' x 10) . ('y' x 5), 'fragmented binary echoes');
    $c->send_frame(opcode => 9, payload => 'p');
    my $pong = $c->read_frame;
    ok $pong && $pong->{opcode} == 10, 'pong';
    ok !defined $t->wait_for_log(sub { $_[0] =~ /\Q$tag\E/ }, log => 'access', timeout => 0.3)
        && !line_for($tag, 0.3), 'nothing is logged while the WebSocket is open';
    sleep 0.8;
    $c->send_frame(opcode => 8, payload => close_payload(4001, 'bye'));
    $c->close_ok(4001, 'close 4001 answered');
    my $life = time - $t0;
    $c->close;
    my $l = line_for($tag);
    ok $l, 'one line when the WebSocket ends' or diag WsTest::_slurp($t->prefix . '/logs/ws.log');
    $l //= {};
    is $l->{status}, 101, '$status 101';
    is $l->{by}, 'client', '$websocket_closed_by client';
    is $l->{sent}, 4001, '$websocket_close_sent is the code we answered';
    is $l->{recv}, 4001, '$websocket_close_received is the client\'s';
    is $l->{min}, 2, '$websocket_messages_in';
    is $l->{mout}, 2, '$websocket_messages_out';
    is $l->{fin}, 6, '$websocket_frames_in (1 + 3 fragments + ping + close)';
    is $l->{fout}, 6, '$websocket_frames_out (1 + 3 fragments + pong + close)';
    is $l->{bin}, 20, '$websocket_bytes_in (data payload)';
    is $l->{bout}, 20, '$websocket_bytes_out';
    ok $l->{dur} =~ /^\d+\.\d{3}$/ && $l->{dur} >= 0.75 && $l->{dur} <= $life + 0.5,
        "\$websocket_duration $l->{dur} s (the client saw $life s)";
    ok $l->{rt} >= $l->{dur} && $l->{rt} <= $life + 0.5, "\$request_time $l->{rt} s is the lifetime";
    is $l->{proto}, 'chat', '$websocket_protocol';
    is $l->{ext}, '-', '$websocket_extensions (none negotiated)';
    is $l->{ua}, 'ws-test/1.0', '$http_user_agent';
    is $l->{ra}, '127.0.0.1', '$remote_addr';
    like $l->{tl}, qr{^\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}$}, '$time_local';
    is $l->{host}, '127.0.0.1', '$host';
    is $l->{hh}, '127.0.0.1:' . $t->port, '$http_host';
    is $l->{ref}, 'https://ref.example/page', '$http_referer';
    is $l->{orig}, 'https://origin.example', '$http_origin';
    is $l->{xff}, '10.1.2.3', '$http_x_forwarded_for';
    is $l->{req}, "GET /ws?$tag HTTP/1.1", '$request';
    is $l->{args}, $tag, '$args';
    is $l->{scheme}, 'http', '$scheme';
    ok $l->{bs} > 20 + 100, "\$bytes_sent ($l->{bs}) covers the 101 and every frame";
}

### server closes: idle timeout ###########################################
for my $answer (1, 0) {
    my $tag = tag();
    my $c = $t->ws_connect("/idle?$tag");
    my ($pings, $close) = (0, undef);
    while (my $f = $c->read_frame(timeout => 3)) {
        last if $f->{eof};
        $pings++ if $f->{opcode} == 9;
        if ($f->{opcode} == 8) { $close = $f; last }
    }
    ok $close, 'idle: the server closes' or next;
    $c->send_frame(opcode => 8, payload => close_payload(1001)) if $answer;
    ok WsTest::wait_eof($c->sock, 3), 'idle: then EOF';
    $c->close;
    my $l = line_for($tag) // {};
    my $what = $answer ? 'answered' : 'unanswered';
    is $l->{by}, 'server', "idle, $what: \$websocket_closed_by server";
    is $l->{sent}, 1001, "idle, $what: \$websocket_close_sent 1001";
    is $l->{recv}, $answer ? 1001 : '-', "idle, $what: \$websocket_close_received";
    is $l->{fout}, $pings + 1, "idle, $what: frames out are the pings and the close";
    is $l->{min}, 0, "idle, $what: no messages in";
}

### a protocol error #######################################################
{
    my $tag = tag();
    my $c = $t->ws_connect("/ws?$tag");
    $c->send_raw(ws_frame(opcode => 1, payload => 'unmasked', mask => 0));
    $c->close_ok(1002, 'unmasked frame: 1002');
    $c->close;
    my $l = line_for($tag) // {};
    is $l->{by}, 'server', 'protocol error: closed by the server';
    is $l->{sent}, 1002, 'protocol error: close sent 1002';
    is $l->{recv}, '-', 'protocol error: no close received';
}

### dropped #################################################################
{
    my $tag = tag();
    my $c = $t->ws_connect("/ws?$tag");
    $c->echo_ok(1, 'then gone', 'echo before vanishing');
    WsTest::reset_close($c->sock);
    my $l = line_for($tag) // {};
    is $l->{by}, 'dropped', 'a vanished client: $websocket_closed_by dropped';
    is $l->{sent}, '-', 'no close sent';
    is $l->{recv}, '-', 'no close received';
    is $l->{min}, 1, 'its message is counted';
}

### a connection that keeps its request (limit_conn) #######################
{
    my $tag = tag();
    my $c = $t->ws_connect("/limited?$tag", 'User-Agent' => 'kept/2');
    $c->echo_ok(2, 'abc', 'echo through limit_conn');
    $c->send_frame(opcode => 8, payload => close_payload(1000));
    $c->close_ok(1000, 'clean close');
    $c->close;
    my $l = line_for($tag) // {};
    is $l->{status}, 101, 'kept request: $status 101';
    is $l->{by}, 'client', 'kept request: closed by the client';
    is "$l->{min}/$l->{mout}/$l->{bin}/$l->{bout}", '1/1/3/3', 'kept request: messages and bytes';
    is $l->{ua}, 'kept/2', 'kept request: $http_user_agent';
}

### wss:// ####################################################################
{
    my $tag = tag();
    my $script = <<'PY';
import asyncio, ssl, sys
try:
    from websockets.asyncio.client import connect
except ImportError:
    from websockets import connect
ctx = ssl.create_default_context(cafile=sys.argv[1])
async def main():
    async with connect(sys.argv[2], ssl=ctx, open_timeout=10, close_timeout=10,
                       user_agent_header="tls-client/3") as ws:
        await ws.send("over tls")
        assert await ws.recv() == "over tls"
    print("OK")
asyncio.run(main())
PY
    my ($rc, $out) = $t->run_cmd($python, '-c', $script, $cert,
        'wss://localhost:' . $t->port2 . "/ws?$tag");
    is $rc, 0, 'wss:// client ran' or diag $out;
    my $l = line_for($tag) // {};
    is $l->{scheme}, 'https', 'wss://: $scheme https';
    is $l->{by}, 'client', 'wss://: closed by the client';
    is "$l->{min}/$l->{bin}", '1/8', 'wss://: one message of 8 bytes';
    is $l->{recv}, 1000, 'wss://: close 1000 received';
    is $l->{ua}, 'tls-client/3', 'wss://: $http_user_agent';
}

# Plain requests are logged as before, at once.
{
    my $r = $t->http("GET /plain?ok HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    is $r->{status}, 200, 'a plain request';
    ok line_for('uri=/plain?ok'), 'is logged with the same format';
}

$t->stop;
done_testing;
