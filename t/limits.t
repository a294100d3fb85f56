# websocket_max_payload_len: a data frame up to the limit is echoed, a
# longer one gets close 1009 (Message Too Big) without the server waiting for
# the payload, and the reason is logged at info level naming the directive.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use WsTest qw(ws_frame);

my $t = WsTest->new;
$t->write_config(WsTest::echo_config(location => 'websocket_max_payload_len 1k;'));
$t->run;

{
    my $c = $t->ws_connect('/ws');
    $c->echo_ok(2, 'b' x 1024, 'binary frame of exactly 1k is echoed');
    $c->echo_ok(1, 't' x 1024, 'text frame of exactly 1k is echoed');
    $c->close;
}

{
    my $c = $t->ws_connect('/ws');
    $c->send_frame(opcode => 2, payload => 'b' x 1025);
    $c->close_ok(1009, 'binary frame of 1025 bytes: close 1009');
    $c->close;
}

{
    my $c = $t->ws_connect('/ws');
    $c->send_frame(opcode => 1, payload => 't' x 1025);
    $c->close_ok(1009, 'text frame of 1025 bytes: close 1009');
    $c->close;
}

{
    # Only the header: the server must decide from the length alone.
    my $c = $t->ws_connect('/ws');
    $c->send_raw(ws_frame(opcode => 2, len_override => 2**40, len_bits => 64));
    $c->close_ok(1009, 'header claiming 2^40 bytes, no payload: close 1009');
    $c->close;
}

{
    # The first fragment is over the limit on its own.
    my $c = $t->ws_connect('/ws');
    $c->send_frame(opcode => 1, fin => 0, payload => 'f' x 2000);
    $c->close_ok(1009, 'first fragment over the limit: close 1009');
    $c->close;
}

ok $t->wait_for_log(qr/\[info\].*websocket_max_payload_len/),
    'error log has an info line naming websocket_max_payload_len'
    or diag $t->error_log;

my $c = $t->ws_connect('/ws');
$c->echo_ok(1, 'small', 'small messages still echo on a fresh connection');
$c->close;

$t->stop;
done_testing;
