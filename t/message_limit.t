# websocket_max_message_len: the payload of a message across all its
# fragments is limited (close 1009 as soon as the header of the frame that
# crosses the limit arrives, before its payload), separately from the
# per-frame websocket_max_payload_len; each message counts on its own;
# `off` (the default) means no limit; the reason is logged at info level
# naming the directive.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use WsTest qw(ws_frame);

my $t = WsTest->new;
$t->write_config(WsTest::echo_config(
    location => 'websocket_max_message_len 1000; websocket_max_payload_len 600;',
    server   => 'location /unlimited { websocket_echo; websocket_max_payload_len 600; }'
        . ' location /off { websocket_echo; websocket_max_message_len off; }',
));
$t->run;

sub fragments {
    my ($c, $op, @sizes) = @_;
    my $bytes = '';
    for my $i (0 .. $#sizes) {
        $bytes .= ws_frame(opcode => $i ? 0 : $op, fin => $i == $#sizes ? 1 : 0,
            payload => chr(0x61 + $i) x $sizes[$i]);
    }
    $c->send_raw($bytes);
    return join '', map { chr(0x61 + $_) x $sizes[$_] } 0 .. $#sizes;
}

{
    my $c = $t->ws_connect('/ws');
    my $want = fragments($c, 1, 600, 400);
    WsTest::Conn::message_is($c->read_message, 1, $want, 'a message of exactly the limit in two fragments echoes');
    $want = fragments($c, 2, 500, 500);
    WsTest::Conn::message_is($c->read_message, 2, $want, 'each message counts on its own');
    $c->echo_ok(1, 'x' x 600, 'a one-frame message under both limits echoes');
    $c->close;
}

{
    my $c = $t->ws_connect('/ws');
    fragments($c, 1, 600, 300, 101);
    my ($ok, $r) = $c->close_ok(1009, 'one byte over the limit in the third fragment: close 1009',
        allow_skipped => 1);
    my $echoed = join '', map { $_->{payload} } grep { $_->{opcode} <= 2 } @{ $r->{skipped} || [] };
    ok length($echoed) <= 900, sprintf 'nothing of the frame over the limit is echoed (%d bytes before the close)',
        length $echoed;
    $c->close;
}

{
    # Only the header of the crossing frame: decided from the length alone.
    my $c = $t->ws_connect('/ws');
    $c->send_raw(ws_frame(opcode => 2, fin => 0, payload => 'a' x 600)
        . ws_frame(opcode => 0, fin => 1, len_override => 500, payload => ''));
    $c->close_ok(1009, 'the header of a frame crossing the limit: close 1009 without its payload',
        allow_skipped => 1);
    $c->close;
}

ok $t->wait_for_log(qr/\[info\].*websocket_max_message_len/),
    'error log has an info line naming websocket_max_message_len' or diag $t->error_log;

for my $path ('/unlimited', '/off') {
    my $c = $t->ws_connect($path);
    my $want = fragments($c, 2, (600) x 20);
    WsTest::Conn::message_is($c->read_message(timeout => 10), 2, $want,
        "$path: a 12,000-byte message of 600-byte frames echoes (no message limit)");
    $c->close;
}

$t->stop;
done_testing;
