# Clients that vanish: half a frame then FIN, a reset (SO_LINGER 0) in the
# middle of a frame, a close right after the 101, and a client that resets
# while the server is still writing a large echo. The worker must survive
# (same pid, no crash in the error log) and keep serving.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Socket qw(SOL_SOCKET SO_LINGER SO_RCVBUF);
use WsTest qw(ws_frame);

my $t = WsTest->new;
$t->write_config(WsTest::echo_config(location => 'websocket_max_payload_len 4m;'));
$t->run;

my @workers = $t->worker_pids;
is scalar @workers, 1, 'one worker';

sub reset_close {
    my ($c) = @_;
    setsockopt($c->sock, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    $c->close;
}

my $frame = ws_frame(opcode => 1, payload => 'x' x 100);

# Half a frame (header and part of the payload), then a normal close.
{
    my $c = $t->ws_connect('/ws');
    ok $c->send_raw(substr($frame, 0, 40)), 'sent half a frame';
    $c->close;
}

# Only part of the header.
{
    my $c = $t->ws_connect('/ws');
    $c->send_raw(substr(ws_frame(opcode => 2, payload => 'y' x 70000), 0, 3));
    $c->close;
}

# Half a frame, then a reset.
{
    my $c = $t->ws_connect('/ws');
    $c->send_raw(substr($frame, 0, 40));
    reset_close($c);
}

# Closed right after the 101, without a close frame.
{
    my $c = $t->ws_connect('/ws');
    $c->close;
}

# A 3 MiB echo the client never reads, then a reset: the server's write
# fails in the middle.
{
    my $c = $t->ws_connect('/ws');
    setsockopt($c->sock, SOL_SOCKET, SO_RCVBUF, 64 * 1024);
    # Expected to stall (nobody reads the echo): bounded by the timeout.
    $c->send_raw(ws_frame(opcode => 2, payload => 'z' x (3 * 1024 * 1024)), timeout => 2, no_read => 1);
    reset_close($c);
}

# Half a fragmented message, then FIN.
{
    my $c = $t->ws_connect('/ws');
    $c->send_raw(ws_frame(opcode => 1, fin => 0, payload => 'part one'));
    $c->close;
}

# The worker handled all of that and still serves.
my $c = $t->ws_connect('/ws');
$c->echo_ok(1, 'after the aborts', 'a fresh connection echoes');
$c->echo_ok(2, 'b' x 70000, 'and a larger binary message');
$c->close;

is_deeply [$t->worker_pids], \@workers, 'the worker is still the same process (no crash and respawn)';

$t->stop;
done_testing;
