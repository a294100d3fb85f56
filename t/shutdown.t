# Graceful shutdown with traffic flowing. On `nginx -s reload` (HUP) and
# `nginx -s quit` (QUIT), every open WebSocket of the exiting worker gets a
# close frame 1001 "server shutting down" and the worker exits promptly
# instead of waiting for its clients:
#
# - reload: 20 connections echo in a loop (small texts, and 100 KiB binary
#   messages the server streams, so the signal can land mid-message); HUP;
#   every one gets 1001 after only whole, correct echoes; the old worker is
#   gone within a few seconds; a new connection works on the new worker;
# - quit: the same on the new worker; the master exits promptly;
# - a client that does not read cannot take the close frame: with
#   worker_shutdown_timeout the worker still exits when it expires, and
#   without it websocket_timeout (the send timeout) bounds the wait.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use IO::Select;
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Time::HiRes qw(time);
use WsTest qw(ws_frame close_payload);

my $NCONN = 20;
my $BIG = join '', map { chr(($_ * 31) & 0xFF) } 1 .. 100_000;

# Echo traffic on many connections at once: each keeps one message in
# flight; every 4th message is a 100 KB binary message. Records per
# connection: echoes (correct ones), bad (first problem), close (code,
# reason, at), after_close (frames after the close), eof.
sub start_traffic {
    my ($t, $n) = @_;
    my @c;
    for my $i (1 .. $n) {
        my $c = $t->ws_connect('/ws');
        $c->sock->blocking(0);
        push @c, { i => $i, conn => $c, sock => $c->sock, out => '', echoes => 0, seq => 0,
                   after_close => 0 };
    }
    return \@c;
}

sub next_message {
    my ($s) = @_;
    my $n = $s->{seq}++;
    my ($op, $payload) = $n % 4 == 3 ? (2, $BIG) : (1, "conn $s->{i} message $n");
    $s->{want} = [$op, $payload];
    $s->{partial} = undef;
    $s->{out} .= ws_frame(opcode => $op, payload => $payload);
}

# Runs the traffic until $stop->() is true or $timeout s pass.
sub pump {
    my ($conns, $timeout, $stop) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        last if $stop && $stop->();
        my @live = grep { !$_->{eof} } @$conns;
        last unless @live;
        for my $s (@live) {
            next_message($s) if !$s->{close} && !$s->{want} && !length $s->{out};
        }
        my %by = map { fileno($_->{sock}) => $_ } @live;
        my ($r, $w) = IO::Select->select(IO::Select->new(map { $_->{sock} } @live),
            IO::Select->new(map { $_->{sock} } grep { length $_->{out} && !$_->{write_failed} } @live),
            undef, 0.05);
        for my $sock (@{ $w || [] }) {
            my $s = $by{ fileno $sock };
            my $n = syswrite($sock, $s->{out});
            if (defined $n) { substr($s->{out}, 0, $n, '') }
            elsif ($! != EAGAIN && $! != EINTR && $! != EWOULDBLOCK) { $s->{write_failed} = 1; $s->{out} = '' }
        }
        for my $sock (@{ $r || [] }) {
            my $s = $by{ fileno $sock };
            my $buf = $s->{conn}->buffer_ref;
            my $n = sysread($sock, $$buf, 262144, length $$buf);
            next if !defined $n && ($! == EAGAIN || $! == EINTR || $! == EWOULDBLOCK);
            while (my $f = $s->{conn}->take_frame) {
                if ($s->{close}) { $s->{after_close}++; next }
                if ($f->{opcode} == 8) {
                    $s->{close} = { code => length $f->{payload} >= 2 ? unpack('n', $f->{payload}) : undef,
                                    reason => substr($f->{payload}, 2), at => time, masked => $f->{masked} };
                    $s->{out} = '';    # a client stops sending once it has the close
                    next;
                }
                next if $f->{opcode} == 9 || $f->{opcode} == 10;
                if (!$s->{want}) { $s->{bad} //= "unexpected frame opcode $f->{opcode}"; next }
                my $want_op = defined $s->{partial} ? 0 : $s->{want}[0];
                $s->{bad} //= "opcode $f->{opcode}, want $want_op" if $f->{opcode} != $want_op;
                $s->{partial} .= $f->{payload};
                if ($f->{fin}) {
                    if ($s->{partial} eq $s->{want}[1]) { $s->{echoes}++ }
                    else { $s->{bad} //= 'echo differs from message ' . ($s->{seq} - 1) }
                    $s->{want} = undef;
                    $s->{partial} = undef;
                }
            }
            if (!defined $n || $n == 0) { $s->{eof} = time; $s->{reset} = !defined $n }
        }
    }
}

# Assertions on a batch of connections that must all have been shut down.
sub check_shutdown {
    my ($conns, $what, $signal_at) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @bad = grep { $_->{bad} } @$conns;
    ok !@bad, "$what: every echo before the close was whole and correct"
        or diag join "\n", map { "conn $_->{i}: $_->{bad}" } @bad;
    my @no1001 = grep { !$_->{close} || ($_->{close}{code} // 0) != 1001 } @$conns;
    is scalar @no1001, 0, "$what: all $NCONN connections got close 1001"
        or diag join "\n", map { "conn $_->{i}: " . ($_->{close} ? 'close ' . ($_->{close}{code} // 'empty')
            : 'no close frame' . ($_->{eof} ? ($_->{reset} ? ' (reset)' : ' (EOF)') : '')) } @no1001;
    my @reason = grep { $_->{close} && $_->{close}{reason} ne 'server shutting down' } @$conns;
    is scalar @reason, 0, "$what: with the reason 'server shutting down'"
        or diag "first reason: '$reason[0]{close}{reason}'";
    is scalar(grep { $_->{after_close} } @$conns), 0, "$what: nothing after the close frame";
    is scalar(grep { !$_->{eof} } @$conns), 0, "$what: then the server closed every connection";
    my $last = 0;
    for (@$conns) { $last = $_->{close}{at} if $_->{close} && $_->{close}{at} > $last }
    my $took = $last ? $last - $signal_at : -1;
    cmp_ok $took, '<', 3, sprintf "$what: the last close frame came %.2f s after the signal", $took;
    return $took;
}

my $t = WsTest->new;
$t->write_config(WsTest::echo_config(location => 'websocket_timeout 60s;'));
$t->run;
my ($old) = $t->worker_pids;
ok $old, "worker $old";

### reload ##################################################################

my $conns = start_traffic($t, $NCONN);
pump($conns, 10, sub { !grep { $_->{echoes} < 5 } @$conns });
my $before = 0;
$before += $_->{echoes} for @$conns;
is scalar(grep { $_->{echoes} >= 5 } @$conns), $NCONN, "reload: traffic flows on all $NCONN connections ($before echoes so far)";

my $hup_at = time;
ok $t->signal_master('HUP'), 'HUP (reload) sent to the master';
pump($conns, 10);
my $close_took = check_shutdown($conns, 'reload', $hup_at);
my $gone = WsTest::wait_exit($old, 10);
ok defined $gone && time - $hup_at < 5,
    sprintf 'reload: the old worker exited within 5 s of the signal (%s)',
    defined $gone ? sprintf('%.2f s', time - $hup_at) : 'still running after 10 s';
my $old_exit = time - $hup_at;
my $echoes = 0;
$echoes += $_->{echoes} for @$conns;
diag sprintf 'reload: %d connections, %d echoes, all got 1001 within %.2f s; old worker gone after %.2f s',
    $NCONN, $echoes, $close_took, $old_exit;

my @new = $t->wait_new_workers([$old], 10);
is scalar @new, 1, "a new worker ($new[0]) runs";
{
    my $c = $t->ws_connect('/ws');
    $c->echo_ok(1, 'after the reload', 'a new connection after the reload echoes');
    $c->echo_ok(2, $BIG, 'including a streamed 100 KB message');
    $c->close;
}

### quit ####################################################################

$conns = start_traffic($t, $NCONN);
pump($conns, 10, sub { !grep { $_->{echoes} < 5 } @$conns });
is scalar(grep { $_->{echoes} >= 5 } @$conns), $NCONN, "quit: traffic flows on all $NCONN connections";
my $master = $t->master_pid;
my $quit_at = time;
ok $t->signal_master('QUIT'), 'QUIT sent to the master';
pump($conns, 10);
$close_took = check_shutdown($conns, 'quit', $quit_at);
my $m_gone = WsTest::wait_exit($master, 10);
ok defined $m_gone && $m_gone < 5, sprintf 'quit: the master exited %.2f s after the signal', time - $quit_at;
ok !grep({ WsTest::_alive($_) } @new), 'and its worker with it';
$echoes = 0;
$echoes += $_->{echoes} for @$conns;
diag sprintf 'quit: %d connections, %d echoes, all got 1001 within %.2f s; master gone after %.2f s',
    $NCONN, $echoes, $close_took, time - $quit_at;
$t->stop;    # checks the error log

### a client that does not read ##############################################
# Its receive buffer is full of echoes, so the close frame cannot be sent.

for my $case (
    ['worker_shutdown_timeout 1s', 'websocket_timeout 60s;', 'worker_shutdown_timeout 1s;', 4],
    ['websocket_timeout 2s (no worker_shutdown_timeout)', 'websocket_timeout 2s;', '', 7],
) {
    my ($what, $loc, $main, $bound) = @$case;
    my $t2 = WsTest->new;
    my $conf = WsTest::echo_config(listen => 'sndbuf=64k', location => $loc);
    $conf =~ s/^(%%TEST_GLOBALS%%)$/$1\n$main/m;
    $t2->write_config($conf);
    $t2->run;
    my ($w) = $t2->worker_pids;
    my $stuck = $t2->ws_connect('/ws');
    setsockopt($stuck->sock, SOL_SOCKET, SO_RCVBUF, 16 * 1024);
    # Stalls once the kernel buffers are full (nobody reads the echo).
    $stuck->send_raw(ws_frame(opcode => 2, payload => 's' x 900_000), timeout => 2, no_read => 1);
    my $reader = $t2->ws_connect('/ws');
    my $at = time;
    $t2->signal_master('HUP');
    $reader->close_ok(1001, "$what: a reading client still gets 1001 at once");
    my $took = WsTest::wait_exit($w, $bound + 1);
    ok defined $took && $took <= $bound,
        sprintf "$what: the worker with a client that does not read exits within %d s (%s)", $bound,
        defined $took ? sprintf('%.1f s', $took) : 'still running';
    my @bad = $t2->bad_log_lines;
    ok !@bad, "$what: no alert in the error log (no connection left open)" or diag join "\n", @bad;
    WsTest::reset_close($stuck->sock);
    $t2->stop;
}

done_testing;
