# The closing handshake (RFC 6455 sections 5.5.1, 7.4): a client close is
# answered with the same status code, invalid codes or payloads get 1002
# (1007 for a reason that is not UTF-8), and after the close frame the server
# sends nothing but the end of the TCP connection.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use WsTest qw(ws_frame close_payload);

my $t = WsTest->new;
$t->write_config(WsTest::echo_config());
$t->run;

# Sends one close frame with $payload on a fresh connection and asserts the
# answer: close with $want (undef = empty payload), then EOF.
sub close_case {
    my ($payload, $want, $name) = @_;
    my $c = $t->ws_connect('/ws');
    $c->send_frame(opcode => 8, payload => $payload);
    my ($ok, $close) = $c->close_ok($want, $name);
    $c->close;
    return $close;
}

close_case(close_payload(1000), 1000, 'close 1000: 1000 back, then EOF');
close_case(close_payload(1000, 'bye'), 1000, 'close 1000 "bye": 1000 back');
my $empty = close_case('', undef, 'empty close: empty close back');
is $empty->{len}, 0, 'empty close answer has payload length 0';
close_case("\x03", 1002, 'close with a 1-byte payload: 1002');

for my $code (0, 999, 1004, 1005, 1006, 1012, 1016, 1100, 2000, 2999, 5000, 65535) {
    close_case(close_payload($code), 1002, "invalid close code $code: 1002");
}
for my $code (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999) {
    close_case(close_payload($code, 'reason'), $code, "close code $code: same code back");
}

close_case(close_payload(1000, "bad \xC0\xAF reason"), 1007, 'close reason that is not UTF-8: 1007');
close_case(close_payload(1000, "ok \xE2\x82\xAC"), 1000, 'close reason with multi-byte UTF-8: 1000');
close_case(close_payload(1000, 'r' x 123), 1000, 'close with the longest reason (123 bytes): 1000');

# Order: a text before the close is echoed first; a text after the close
# (same write) is not echoed at all.
{
    my $c = $t->ws_connect('/ws');
    $c->send_raw(ws_frame(opcode => 1, payload => 'before')
        . ws_frame(opcode => 8, payload => close_payload(1000))
        . ws_frame(opcode => 1, payload => 'after'));
    WsTest::Conn::message_is($c->read_message, 1, 'before', 'text before the close is echoed');
    $c->close_ok(1000, 'text after the close is not echoed: close then EOF only');
    $c->close;
}

# Control frames after the close are ignored as well (no pong).
{
    my $c = $t->ws_connect('/ws');
    $c->send_raw(ws_frame(opcode => 8, payload => close_payload(1001))
        . ws_frame(opcode => 9, payload => 'late ping'));
    $c->close_ok(1001, 'ping after the close is not answered');
    $c->close;
}

$t->stop;
done_testing;
