# Protocol errors (RFC 6455 sections 5.2-5.5 and 7.4.1): each one makes the
# server send a close frame with code 1002 and then close the TCP
# connection. Every case runs on a fresh connection; a final connection shows
# the worker is still serving.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use WsTest qw(ws_frame close_payload);

my $t = WsTest->new;
$t->write_config(WsTest::echo_config());
$t->run;

# [name, bytes to send, allow frames before the close (an echo of a first
# fragment by a server that streams fragments)]
my @cases = (
    ['RSV1 set' => ws_frame(opcode => 1, rsv => 4, payload => 'x')],
    ['RSV2 set' => ws_frame(opcode => 1, rsv => 2, payload => 'x')],
    ['RSV3 set' => ws_frame(opcode => 1, rsv => 1, payload => 'x')],
    ['RSV1 on a ping' => ws_frame(opcode => 9, rsv => 4, payload => 'x')],
    (map { ["reserved opcode $_" => ws_frame(opcode => $_, payload => 'x')] } 3 .. 7, 0xB .. 0xF),
    ['unmasked text frame'   => ws_frame(opcode => 1, mask => 0, payload => 'x')],
    ['unmasked close frame'  => ws_frame(opcode => 8, mask => 0, payload => close_payload(1000))],
    ['ping with 126-byte payload' => ws_frame(opcode => 9, payload => 'p' x 126)],
    ['ping without FIN' => ws_frame(opcode => 9, fin => 0, payload => 'x')],
    ['close without FIN' => ws_frame(opcode => 8, fin => 0, payload => close_payload(1000))],
    ['continuation with no message open' => ws_frame(opcode => 0, fin => 1, payload => 'x')],
    ['non-final continuation with no message open' => ws_frame(opcode => 0, fin => 0, payload => 'x')],
    ['text frame while a fragmented message is open' =>
        ws_frame(opcode => 1, fin => 0, payload => 'first') . ws_frame(opcode => 1, fin => 1, payload => 'second'), 1],
    ['binary frame while a fragmented text is open' =>
        ws_frame(opcode => 1, fin => 0, payload => 'first') . ws_frame(opcode => 2, fin => 1, payload => 'second'), 1],
    # Header only: a server that waited for 2^63 bytes would never answer.
    ['64-bit length with the top bit set' => ws_frame(opcode => 2, len_override => 2**63, len_bits => 64)],
);

for my $case (@cases) {
    my ($name, $bytes, $allow) = @$case;
    my $c = $t->ws_connect('/ws');
    $c->send_raw($bytes);
    $c->close_ok(1002, "$name: close 1002, then EOF", allow_skipped => $allow);
    $c->close;
}

# A protocol error after good traffic on the same connection.
{
    my $c = $t->ws_connect('/ws');
    $c->echo_ok(1, 'fine so far', 'echo before the error');
    $c->send_frame(opcode => 1, rsv => 2, payload => 'bad');
    $c->close_ok(1002, 'error after good traffic: close 1002');
    $c->close;
}

my $c = $t->ws_connect('/ws');
$c->echo_ok(1, 'still alive', 'a fresh connection after all the errors echoes');
$c->close;

$t->stop;
done_testing;
