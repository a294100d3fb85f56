# websocket_ping_interval (0.6 s) with websocket_timeout (1.5 s): a silent
# peer is pinged after the interval; a peer that answers stays connected,
# pinged again after every interval of silence; a peer that stops answering
# is closed with 1001 within interval + timeout of the last thing it sent; a
# peer that keeps sending is never pinged. Without the directive, pings
# come after websocket_timeout (t/timeout.t).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use WsTest qw(ws_frame);

my ($INTERVAL, $TIMEOUT) = (0.6, 1.5);

my $t = WsTest->new;
$t->write_config(WsTest::echo_config(
    location => "websocket_ping_interval 600ms; websocket_timeout 1500ms;"));
$t->run;

# Answers every ping for $answer_for seconds, then goes silent; returns the
# times of the pings (relative to $t0) and what ended the connection.
sub session {
    my ($c, $t0, $answer_for, $limit) = @_;
    my (@pings, $end);
    while (time - $t0 < $limit) {
        my $f = $c->read_frame(timeout => $limit - (time - $t0)) or last;
        if ($f->{eof}) { $end = { eof => 1, at => time - $t0 }; last }
        if ($f->{opcode} == 8) {
            $end = { close => (length $f->{payload} >= 2 ? unpack 'n', $f->{payload} : undef), at => time - $t0 };
            last;
        }
        next unless $f->{opcode} == 9;
        push @pings, time - $t0;
        $c->send_frame(opcode => 10, payload => $f->{payload}) if time - $t0 < $answer_for;
    }
    return (\@pings, $end);
}

# An answering peer, then silence.
{
    my $c = $t->ws_connect('/ws');
    my $t0 = time;
    my ($pings, $end) = session($c, $t0, 2.5, 8);
    ok @$pings >= 3, sprintf 'pinged every interval while answering (%d pings: %s)',
        scalar @$pings, join ', ', map { sprintf '%.2f', $_ } @$pings;
    ok $pings->[0] > $INTERVAL * 0.7 && $pings->[0] < $INTERVAL + 0.8,
        sprintf 'the first ping comes after about the interval (%.2f s)', $pings->[0];
    my @gaps = map { $pings->[$_] - $pings->[$_ - 1] } 1 .. $#$pings;
    ok !grep({ $_ < $INTERVAL * 0.7 || $_ > $INTERVAL + $TIMEOUT } @gaps),
        sprintf 'then one per interval of silence (gaps %s)', join ', ', map { sprintf '%.2f', $_ } @gaps;
    ok $end && defined $end->{close} && $end->{close} == 1001, 'a peer that stops answering gets close 1001'
        or diag explain $end;
    # The last pong was sent right after the last answered ping (< 2.5 s);
    # the close must come within interval + timeout of it.
    my ($last_answered) = grep { $_ < 2.5 } reverse @$pings;
    my $bound = $last_answered + $INTERVAL + $TIMEOUT;
    ok $end && $end->{at} <= $bound + 0.8 && $end->{at} >= $last_answered + $INTERVAL + $TIMEOUT * 0.7,
        sprintf 'closed %.2f s after its last pong (bound %.1f s)', ($end->{at} // 99) - $last_answered,
        $INTERVAL + $TIMEOUT;
    my $eof = WsTest::wait_eof($c->sock, 3);
    ok $eof, 'then EOF';
    $c->close;
}

# A peer that keeps talking is not pinged.
{
    my $c = $t->ws_connect('/ws');
    my $t0 = time;
    my $pings = 0;
    while (time - $t0 < 2.5) {
        $c->send_frame(opcode => 2, payload => 'x');
        my $deadline = time + 0.3;
        while (time < $deadline) {
            my $f = $c->read_frame(timeout => $deadline - time) or last;
            $pings++ if $f->{opcode} == 9;
        }
    }
    is $pings, 0, 'a peer sending every 0.3 s is never pinged';
    $c->echo_ok(1, 'still open', 'and still echoes');
    $c->close;
}

$t->stop;
done_testing;
