# websocket_protocols and websocket_require_protocol, with raw requests:
# the 101 names exactly one subprotocol, the first of the server's list that
# the client offered (never the client's whole list); a client that offers
# none is served without one, or refused with 400 where a protocol is
# required; a malformed Sec-WebSocket-Protocol header is refused with 400
# everywhere, also where no protocol is configured. The negotiated protocol
# is logged in $websocket_protocol.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use WsTest;

my $t = WsTest->new;
$t->write_config(<<'EOF');
%%TEST_GLOBALS%%
events { worker_connections 64; }
http {
    %%TEST_GLOBALS_HTTP%%
    log_format ws '$request_uri proto=$websocket_protocol';
    server {
        listen 127.0.0.1:%%PORT%%;
        access_log %%PREFIX%%/logs/ws.log ws;
        websocket_protocols chat.v2 chat;
        location /ws { websocket_echo; }
        location /required { websocket_echo; websocket_require_protocol on; }
        location /other { websocket_echo; websocket_protocols mqtt; }
    }
    server {
        listen 127.0.0.1:%%PORT2%%;
        location /plain { websocket_echo; }
    }
}
EOF
$t->run;

# Upgrade with Sec-WebSocket-Protocol lines @lines (each one header line).
sub upgrade {
    my ($path, @lines) = @_;
    my ($req) = $t->ws_request($path, 'Sec-WebSocket-Protocol' => undef);
    $req =~ s/\r\n\r\n\z/join('', map { "\r\nSec-WebSocket-Protocol: $_" } @lines) . "\r\n\r\n"/e;
    return $t->http($req);
}

sub protocols_of {
    my ($r) = @_;
    return [map { $_->[1] } grep { lc $_->[0] eq 'sec-websocket-protocol' } @{ $r->{header_list} }];
}

for my $case (
    # [path, offered lines, expected protocol (undef: none)]
    ['/ws', ['chat, chat.v2'], 'chat.v2', "the server's order wins over the client's"],
    ['/ws', ['superchat, chat'], 'chat', 'the one offered protocol the server knows'],
    ['/ws', ['superchat', 'chat'], 'chat', 'offers over several header lines'],
    ['/ws', ['  chat.v2  ,,superchat'], 'chat.v2', 'spaces and empty list elements'],
    ['/ws', ['CHAT'], undef, 'names are case-sensitive'],
    ['/ws', ['superchat'], undef, 'nothing in common: served without a protocol'],
    ['/ws', [], undef, 'no offer: served without a protocol'],
    ['/other', ['chat, mqtt'], 'mqtt', 'a location overrides the inherited list'],
    ['/required', ['x, chat'], 'chat', 'a required protocol that is offered'],
) {
    my ($path, $lines, $want, $name) = @$case;
    my $r = upgrade($path, @$lines);
    is $r->{status}, 101, "$name: 101";
    my $got = protocols_of($r);
    if (defined $want) {
        is_deeply $got, [$want], "$name: exactly one Sec-WebSocket-Protocol, \"$want\"";
    } else {
        is_deeply $got, [], "$name: no Sec-WebSocket-Protocol";
    }
    # The connection is a working WebSocket.
    my $c = WsTest::Conn->new($r->{sock}, $r->{rest}, $r);
    $c->echo_ok(1, "via $path", "$name: echoes");
    $c->send_frame(opcode => 8, payload => WsTest::close_payload(1000));
    $c->close_ok(1000, "$name: clean close");
    $c->close;
}

for my $case (
    ['/required', [], 'no offer where a protocol is required'],
    ['/required', ['superchat'], 'no known offer where a protocol is required'],
) {
    my ($path, $lines, $name) = @$case;
    my $r = upgrade($path, @$lines);
    is $r->{status}, 400, "$name: 400";
    ok !$r->{headers}{upgrade}, "$name: no upgrade";
}
ok $t->wait_for_log(qr/\[info\].*no subprotocol of websocket_protocols offered/),
    'the refusal is logged at info';

# Malformed headers: 400, also without websocket_protocols.
for my $bad ('chat superchat', 'chat;v=2', '"chat"', '', ' , ', "caf\xC3\xA9") {
    for my $where (['/ws', $t->port], ['/plain', $t->port2]) {
        my ($path, $port) = @$where;
        my ($req) = $t->ws_request($path);
        $req =~ s/\r\n\r\n\z/\r\nSec-WebSocket-Protocol: $bad\r\n\r\n/;
        $req =~ s/Host: 127\.0\.0\.1:\d+/Host: 127.0.0.1:$port/;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp')
            or die "connect: $!\n";
        my $r = $t->http($req, sock => $s);
        is $r->{status}, 400, sprintf 'malformed Sec-WebSocket-Protocol "%s" on %s: 400',
            WsTest::Conn::_esc($bad), $path;
    }
}
ok $t->wait_for_log(qr/\[info\].*malformed Sec-WebSocket-Protocol header/),
    'the malformed header is logged at info';

# The negotiated protocol is in the access log line (written when the
# WebSocket ends).
my $log = '';
WsTest::wait_until(sub {
    $log = WsTest::_slurp($t->prefix . '/logs/ws.log');
    return $log =~ m{^/ws proto=chat\.v2$}m && $log =~ m{^/ws proto=-$}m && $log =~ m{^/other proto=mqtt$}m;
}, 5);
like $log, qr{^/ws proto=chat\.v2$}m, '$websocket_protocol logs the negotiated protocol';
like $log, qr{^/ws proto=-$}m, '$websocket_protocol is "-" without one';
like $log, qr{^/other proto=mqtt$}m, '$websocket_protocol of another location';

$t->stop;
done_testing;
