# websocket_timeout (1s here): an idle connection is pinged; a client that
# does not answer gets close 1001 and the connection is closed; a client that
# answers with a pong stays connected.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use WsTest qw(ws_frame);

my $t = WsTest->new;
$t->write_config(WsTest::echo_config(location => 'websocket_timeout 1s;'));
$t->run;

# Silent client: ping, then close 1001, then EOF.
{
    my $c = $t->ws_connect('/ws');
    my $t0 = time;
    my $f = $c->read_frame(timeout => 4);
    my $dt = time - $t0;
    ok $f && !$f->{eof} && $f->{opcode} == 9, 'idle connection gets a ping'
        or diag $f ? "got opcode " . ($f->{opcode} // 'eof') : 'nothing within 4 s';
    ok $dt > 0.5 && $dt < 3.5, sprintf 'the ping comes after about the timeout (%.2f s)', $dt;
    ok $f && !$f->{masked}, 'server ping is unmasked';

    $t0 = time;
    $c->close_ok(1001, 'no pong: close 1001, then EOF', timeout => 4);
    $dt = time - $t0;
    ok $dt < 3.5, sprintf 'the close comes within about the timeout after the ping (%.2f s)', $dt;
    $c->close;
}

# Answering client: stays open for several timeouts, then still echoes.
{
    my $c = $t->ws_connect('/ws');
    my $pings = 0;
    my $closed;
    my $end = time + 3.5;
    while (time < $end) {
        my $f = $c->read_frame(timeout => $end - time) or last;
        if ($f->{eof} || $f->{opcode} == 8) { $closed = $f; last }
        if ($f->{opcode} == 9) {
            $pings++;
            $c->send_frame(opcode => 10, payload => $f->{payload});
        }
    }
    ok $pings >= 1, "pinged while idle ($pings pings answered)";
    ok !$closed, 'answering pings keeps the connection open'
        or diag $closed->{eof} ? 'EOF' : 'close frame ' . (length $closed->{payload} >= 2 ? unpack 'n', $closed->{payload} : '');
    $c->echo_ok(1, 'still here', 'a text echoes after the pongs');
    $c->close;
}

$t->stop;
done_testing;
