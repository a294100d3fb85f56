# Hostile frames and hostile readers:
#
# - a frame header claiming 2^63-1 payload bytes: refused with 1009 under the
#   default limit; under the largest configurable limit it is streamed with
#   bounded memory (nothing is allocated from the claimed length);
# - 100,000 empty data frames, 10,000 empty fragments of one message and
#   10,000 empty pings, each batch in one write: every one answered, in order;
# - ping floods from clients that do not read: the pongs are not queued
#   without bound; the clients' writes stall (backpressure) and the worker's
#   RSS stays bounded; when a client reads again every pong arrives, in order;
# - clients that never read at all: they stall, and websocket_timeout then
#   drops them, releasing each connection (the worker's open descriptors
#   return to their baseline).
#
# Kernel socket buffers are pinned small on both sides so that what the
# module itself holds dominates.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use IO::Select;
use Socket qw(SOL_SOCKET SO_RCVBUF SO_SNDBUF);
use Time::HiRes qw(time sleep);
use WsTest qw(ws_frame close_payload);

use constant MiB => 1024 * 1024;
use constant MAX63 => 9223372036854775807;    # 2^63 - 1

my $t = WsTest->new;
$t->write_config(WsTest::echo_config(
    listen => 'rcvbuf=64k sndbuf=64k',
    location => 'websocket_timeout 2s;',
    server => '
        location /huge {
            websocket_echo;
            websocket_max_payload_len 9223372036854775807;
            websocket_timeout 10s;
        }
        location /patient {
            websocket_echo;
            websocket_timeout 60s;
        }',
));
$t->run;

my ($worker) = $t->worker_pids;
ok $worker, "worker pid $worker";
my $memcheck = WsTest::under_memcheck();

sub small_buffers {
    my ($sock) = @_;
    setsockopt($sock, SOL_SOCKET, SO_RCVBUF, 64 * 1024);
    setsockopt($sock, SOL_SOCKET, SO_SNDBUF, 64 * 1024);
}

# Connections of the worker, as its open descriptors minus the baseline.
my $fd_base = $t->fd_baseline($worker);
ok defined $fd_base, "worker has $fd_base descriptors open at rest";
sub conns_back_to_base {
    my ($timeout) = @_;
    return WsTest::wait_until(sub { ($t->fd_count($worker) // 1e9) <= $fd_base }, $timeout);
}

### 2^63-1 ##################################################################

for my $case (
    [2, 'binary frame', undef],
    [1, 'text frame', undef],
    [0, 'continuation', ws_frame(opcode => 1, fin => 0, payload => 'first part')],
) {
    my ($op, $what, $before) = @$case;
    my $c = $t->ws_connect('/ws');
    my $hdr = ws_frame(opcode => $op, payload => 'x' x 64, len_override => MAX63, len_bits => 64);
    $c->send_raw(($before // '') . $hdr);
    my ($ok, $r) = $c->close_ok(1009, "$what claiming 2^63-1 bytes: close 1009",
        allow_skipped => defined $before);
    ok !grep({ $_->{opcode} != 1 || $_->{payload} ne 'first part' } @{ $r->{skipped} || [] }),
        "$what claiming 2^63-1 bytes: none of its payload echoed";
}
ok $t->wait_for_log(qr/client sent a frame of 9223372036854775807 bytes/),
    'the 1009 is logged with the claimed length';

{
    my $c = $t->ws_connect('/ws');
    $c->send_raw(ws_frame(opcode => 9, payload => '', len_override => MAX63, len_bits => 64));
    $c->close_ok(1002, 'a ping claiming 2^63-1 bytes: close 1002 (control frame over 125 bytes)');
}

# Under the largest limit nginx accepts, the frame is streamed: the module
# echoes what arrives and holds only its two buffers.
{
    my $rss0 = $t->rss_kb($worker);
    my $c = $t->ws_connect('/huge');
    small_buffers($c->sock);
    my $chunk = join '', map { chr(($_ * 7) & 0xFF) } 0 .. 65535;
    my $total = 16 * MiB;
    my $frame_head = ws_frame(opcode => 2, payload => $chunk x ($total / 65536), len_override => MAX63, len_bits => 64);
    ok $c->send_raw($frame_head, timeout => 30), 'sent 16 MiB of a frame claiming 2^63-1 bytes';
    # Read back the streamed echo: fragments of one unfinished message.
    my ($bytes, $frames, $bad, $content_ok) = (0, 0, '', 1);
    my $want = $chunk x ($total / 65536);
    my $deadline = time + 30;
    while ($bytes < $total && time < $deadline) {
        my $f = $c->read_frame(timeout => $deadline - time) or last;
        if ($f->{eof}) { $bad = 'EOF'; last }
        if ($f->{opcode} == 9) { next }
        my $want_op = $frames ? 0 : 2;
        $bad ||= "opcode $f->{opcode} (want $want_op)" if $f->{opcode} != $want_op;
        $bad ||= 'FIN on a fragment of an unfinished frame' if $f->{fin};
        $content_ok &&= substr($want, $bytes, length $f->{payload}) eq $f->{payload};
        $bytes += length $f->{payload};
        $frames++;
    }
    my $rss1 = $t->rss_kb($worker);
    is $bad, '', 'the echo is a stream of fragments of one message, none with FIN';
    is $bytes, $total, "all 16 MiB echoed back ($frames fragments) before the frame ends";
    ok $content_ok, 'echoed bytes equal the unmasked payload';
    cmp_ok $rss1 - $rss0, '<', 4 * 1024, sprintf 'worker RSS grew %d kB (limit 4 MiB) streaming it', $rss1 - $rss0
        unless $memcheck;
    diag sprintf '2^63-1 frame: %d MiB streamed in %d fragments, worker RSS %d -> %d kB',
        $total / MiB, $frames, $rss0, $rss1;
    WsTest::reset_close($c->sock);
    my $c2 = $t->ws_connect('/huge');
    $c2->echo_ok(2, 'after', 'a fresh connection to the same location echoes');
    $c2->close;
}

### thousands of empty frames ###############################################

{
    my $c = $t->ws_connect('/patient');
    my $N = $memcheck ? 10_000 : 100_000;
    my $t0 = time;
    my $empty = ws_frame(opcode => 2, payload => '', mask_key => "\1\2\3\4");
    my $got = 0;
    my $bad = '';
    my $send_ok = $c->send_raw($empty x $N, timeout => 60);
    my $deadline = time + 60;
    while ($got < $N && time < $deadline) {
        my $f = $c->read_frame(timeout => $deadline - time) or last;
        if ($f->{eof}) { $bad = 'EOF'; last }
        if ($f->{opcode} != 2 || !$f->{fin} || $f->{len} != 0 || $f->{masked}) {
            $bad = "frame $got: opcode $f->{opcode} fin $f->{fin} len $f->{len}";
            last;
        }
        $got++;
    }
    ok $send_ok, "sent $N empty binary frames in one write";
    is $got, $N, "$N empty binary frames echoed as $N empty binary frames" or diag $bad;
    diag sprintf '%d empty frames echoed in %.2f s', $got, time - $t0;

    my $M = 10_000;
    my $msg = ws_frame(opcode => 1, fin => 0, payload => '')
        . ws_frame(opcode => 0, fin => 0, payload => '') x ($M - 2)
        . ws_frame(opcode => 0, fin => 1, payload => '');
    $c->send_raw($msg, timeout => 30);
    my $m = $c->read_message(timeout => 30);
    ok $m && !$m->{eof} && $m->{opcode} == 1 && $m->{payload} eq '' && $m->{fragments} == $M && !@{ $m->{bad} },
        "a text message of $M empty fragments comes back as $M empty fragments"
        or diag explain { map { $_ => $m->{$_} } qw(opcode fragments eof) };

    $c->send_raw(ws_frame(opcode => 9, payload => '') x $M, timeout => 30);
    my $pongs = 0;
    while ($pongs < $M) {
        my $f = $c->read_frame(timeout => 10) or last;
        last if $f->{eof} || $f->{opcode} != 10 || $f->{len};
        $pongs++;
    }
    is $pongs, $M, "$M empty pings answered by $M empty pongs";
    $c->echo_ok(1, 'still fine', 'the connection still echoes');
    $c->close;
}

### ping floods #############################################################

# Writes frames from $next->($i) to the sockets without reading until every
# socket has refused more bytes for $quiet s (or $limit s pass). Returns
# bytes written per socket and whether all stalled.
sub flood_until_stalled {
    my ($socks, $next, %o) = @_;
    my $quiet = $o{quiet} // 1.5;
    my $deadline = time + ($o{limit} // 30);
    my (@written, @pending, @last_progress, @dead);
    for my $i (0 .. $#$socks) {
        $socks->[$i]->blocking(0);
        ($written[$i], $pending[$i], $last_progress[$i]) = (0, '', time);
    }
    my $peak = 0;
    while (time < $deadline) {
        my @active = grep { !$dead[$_] && time - $last_progress[$_] < $quiet } 0 .. $#$socks;
        last unless @active;
        my $sel = IO::Select->new(map { $socks->[$_] } @active);
        my %idx = map { fileno($socks->[$_]) => $_ } @active;
        for my $s ($sel->can_write(0.2)) {
            my $i = $idx{ fileno $s };
            while (1) {
                $pending[$i] = $next->($i) unless length $pending[$i];
                my $n = syswrite($s, $pending[$i]);
                if (!defined $n) {
                    $dead[$i] = $! unless $! == EAGAIN || $! == EINTR || $! == EWOULDBLOCK;
                    last;
                }
                substr($pending[$i], 0, $n, '');
                $written[$i] += $n;
                $last_progress[$i] = time;
            }
        }
        if ($o{rss_pid}) {
            my $r = $t->rss_kb($o{rss_pid}) // 0;
            $peak = $r if $r > $peak;
        }
    }
    my $stalled = !grep { $dead[$_] || time - $last_progress[$_] < $quiet } 0 .. $#$socks;
    $_->blocking(1) for @$socks;
    return { written => \@written, pending => \@pending, stalled => $stalled,
             dead => [grep { $dead[$_] } 0 .. $#$socks], peak_rss => $peak };
}

{
    # One flooder, then it reads: every pong, in order.
    my $c = $t->ws_connect('/patient');
    small_buffers($c->sock);
    my $rss0 = $t->rss_kb($worker);
    my $seq = 0;
    my $pad = 'p' x 117;
    my $f = flood_until_stalled([$c->sock],
        sub { ws_frame(opcode => 9, payload => pack('Q>', $seq++) . $pad) }, rss_pid => $worker);
    my $written = $f->{written}[0];
    my $pings = $seq;    # the last one may be partly written; finish it below
    ok $f->{stalled}, 'a ping flood from a client that does not read stalls';
    cmp_ok $written, '<', 4 * MiB, sprintf 'after %.2f MiB (%d pings): the server stopped reading', $written / MiB, $pings;
    cmp_ok $f->{peak_rss} - $rss0, '<', 2 * 1024, sprintf 'worker RSS grew %d kB (limit 2 MiB)', $f->{peak_rss} - $rss0
        unless $memcheck;
    diag sprintf 'ping flood (1 client): stalled after %d pings (%.2f MiB); worker RSS %d kB -> peak %d kB',
        $pings, $written / MiB, $rss0, $f->{peak_rss};

    # Finish the partial ping while reading, then collect the pongs.
    ok $c->send_raw($f->{pending}[0], timeout => 20), 'the client finishes its last ping while reading';
    my ($n, $bad) = (0, '');
    while ($n < $pings) {
        my $p = $c->read_frame(timeout => 10);
        if (!$p || $p->{eof}) { $bad = $p ? 'EOF' : 'timeout'; last }
        if ($p->{opcode} != 10 || $p->{payload} ne pack('Q>', $n) . $pad) {
            $bad = "frame $n: opcode $p->{opcode}, payload seq " . unpack('Q>', $p->{payload} . "\0" x 8);
            last;
        }
        $n++;
    }
    is $n, $pings, "all $pings pongs arrive once the client reads, in order, with their payloads"
        or diag $bad;
    $c->echo_ok(1, 'after the flood', 'then the connection echoes');
    $c->close;
}

{
    # Fifty flooders at once: memory stays bounded; resets release them all.
    my $K = $memcheck ? 10 : 50;
    my @c = map { my $c = $t->ws_connect('/patient'); small_buffers($c->sock); $c } 1 .. $K;
    my $rss0 = $t->rss_kb($worker);
    my $ping = ws_frame(opcode => 9, payload => 'f' x 125);
    my $f = flood_until_stalled([map { $_->sock } @c], sub { $ping x 64 }, rss_pid => $worker);
    my $total = 0;
    $total += $_ for @{ $f->{written} };
    ok $f->{stalled}, "$K ping flooders that do not read all stall";
    cmp_ok $total, '<', $K * 4 * MiB, sprintf '%.1f MiB accepted from them in all', $total / MiB;
    cmp_ok $f->{peak_rss} - $rss0, '<', 16 * 1024,
        sprintf 'worker RSS grew %d kB with %d stalled flooders (limit 16 MiB)', $f->{peak_rss} - $rss0, $K
        unless $memcheck;
    diag sprintf 'ping flood (%d clients): %.1f MiB accepted before all stalled; worker RSS %d kB -> peak %d kB',
        $K, $total / MiB, $rss0, $f->{peak_rss};
    WsTest::reset_close($_->sock) for @c;
    ok conns_back_to_base(10), 'after they reset, the worker holds no connection for them';
    my $c = $t->ws_connect('/ws');
    $c->echo_ok(1, 'fresh', 'a fresh connection echoes');
    $c->close;
    ok conns_back_to_base(5), 'and it is released after a normal close';
}

### clients that never read ################################################

{
    my $K = $memcheck ? 5 : 30;
    my @c = map { my $c = $t->ws_connect('/ws'); small_buffers($c->sock); $c } 1 .. $K;
    my $rss0 = $t->rss_kb($worker);
    my $mib = 'n' x MiB;
    my $f = flood_until_stalled([map { $_->sock } @c], sub { ws_frame(opcode => 2, payload => $mib) },
        rss_pid => $worker, quiet => 1);
    my $t_stall = time;
    my $total = 0;
    $total += $_ for @{ $f->{written} };
    ok $f->{stalled}, "$K clients sending 1 MiB frames and never reading all stall";
    cmp_ok $f->{peak_rss} - $rss0, '<', 16 * 1024,
        sprintf 'worker RSS grew %d kB (limit 16 MiB)', $f->{peak_rss} - $rss0
        unless $memcheck;
    diag sprintf 'never-reading clients (%d): %.1f MiB accepted before all stalled; worker RSS %d kB -> peak %d kB',
        $K, $total / MiB, $rss0, $f->{peak_rss};

    # websocket_timeout is 2 s here: a send that makes no progress for that
    # long drops the connection.
    my $dropped = WsTest::wait_until(sub { $t->count_log(qr/send timed out/) >= $K }, 10);
    ok $dropped, "all $K are dropped by the send timeout (websocket_timeout 2s)";
    diag sprintf 'dropped %.1f s after the clients stalled', time - $t_stall;
    ok conns_back_to_base(5), 'the dropped connections are released (worker descriptors back to baseline)'
        or diag 'worker descriptors: ' . $t->fd_count($worker) . ", baseline $fd_base";
    # The client sees the end of the connection once it drains what the
    # kernel buffered for it.
    my $ended = 0;
    my $deadline = time + 3;
    for my $c (@c) {
        my $buf = '';
        my $got;
        do { $got = WsTest::read_more($c->sock, \$buf, $deadline); $buf = '' } while $got;
        $ended++ if defined $got;
    }
    is $ended, $K, 'each client reads to EOF: the server closed the socket';
    $_->close for @c;
    my $c = $t->ws_connect('/ws');
    $c->echo_ok(1, 'fresh', 'a fresh connection echoes');
    $c->close;
}

is_deeply [$t->worker_pids], [$worker], 'the same worker served everything (no crash, no respawn)';
my @bad = $t->bad_log_lines;
ok !@bad, 'no alert/crit in the error log so far' or diag join "\n", @bad;
$t->stop;
done_testing;
