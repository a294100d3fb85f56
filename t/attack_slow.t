# Slow clients. Everything runs at once in one event loop (so the file takes
# about 6 s), then each connection's transcript is checked:
#
# - slowloris: 40 connections send the upgrade request one byte per second.
#   nginx's client_header_timeout (2 s here) must end every one of them
#   within a few seconds, silently, and a WebSocket on the same worker keeps
#   echoing meanwhile;
# - a handshake that takes 1.4 s (under the header timeout) gets its 101 and
#   is not cut by the header timer afterwards;
# - frames trickled one byte at a time just under websocket_timeout (1 s):
#   the idle timer restarts on every byte (no ping), and the stream does not
#   desync (unlike lua-resty-websocket issue #77, where a read timeout in the
#   middle of a frame lost the bytes already read);
# - frames arriving in pieces with gaps over websocket_timeout (but under
#   twice it): the server pings in the middle of a frame, keeps its place in
#   the byte stream and echoes the frame intact;
# - a fragmented text message with a client ping between the fragments, in
#   chunks split at arbitrary points.
#
# Then, sequentially: frames sent right behind the handshake when nginx's
# header buffers are larger than the module's input buffer (16 KiB) must all
# be echoed (none lost, no desync).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use IO::Select;
use Time::HiRes qw(time sleep);
use WsTest qw(ws_frame ws_accept close_payload);

my $t = WsTest->new;
$t->write_config(WsTest::echo_config(
    server   => 'client_header_timeout 2s;',
    location => 'websocket_timeout 1s;',
));
$t->run;
my @workers = $t->worker_pids;

### a tiny scheduler: each plan sends bytes at given times and records ####
### everything the server sends back ########################################

# plan: { name, steps => [[at, bytes], ...], until => t }  (times relative
# to the start). A plan ends at EOF/reset or at `until` once all steps are
# sent. Records buf (all bytes received), eof_at, reset, write_error_at,
# sent (bytes written), first_data_at.
sub run_plans {
    my (@plans) = @_;
    my $t0 = time;
    for my $p (@plans) {
        $p->{sock} = $t->connect;
        $p->{sock}->blocking(0);
        $p->{buf} = '';
        $p->{sent} = 0;
        $p->{queue} = '';
        $p->{i} = 0;
    }
    my $hard_deadline = $t0 + 30;
    while (time < $hard_deadline) {
        my $now = time - $t0;
        my @live = grep { !$_->{done} } @plans;
        last unless @live;
        my $next = 1;
        for my $p (@live) {
            # Queue the steps that are due.
            while ($p->{i} < @{ $p->{steps} } && $p->{steps}[$p->{i}][0] <= $now) {
                $p->{queue} .= $p->{steps}[$p->{i}++][1];
            }
            if (length $p->{queue} && !defined $p->{write_error_at} && !defined $p->{eof_at}) {
                my $n = syswrite($p->{sock}, $p->{queue});
                if (defined $n) {
                    substr($p->{queue}, 0, $n, '');
                    $p->{sent} += $n;
                } elsif ($! != EAGAIN && $! != EINTR && $! != EWOULDBLOCK) {
                    $p->{write_error_at} = $now;
                }
            }
            my $all_sent = $p->{i} >= @{ $p->{steps} } && !length $p->{queue};
            if (defined $p->{eof_at} || ($all_sent && $now >= $p->{until})) {
                $p->{done} = 1;
                next;
            }
            my $due = $p->{i} < @{ $p->{steps} } ? $p->{steps}[$p->{i}][0] - $now : $p->{until} - $now;
            $due = 0.01 if length $p->{queue};
            $next = $due if $due < $next;
        }
        my $sel = IO::Select->new(map { $_->{sock} } grep { !$_->{done} } @plans);
        my @r = $sel->can_read($next > 0.001 ? $next : 0.001);
        my %by = map { fileno($_->{sock}) => $_ } @plans;
        for my $s (@r) {
            my $p = $by{ fileno $s };
            my $n = sysread($s, $p->{buf}, 65536, length $p->{buf});
            if (!defined $n) {
                next if $! == EAGAIN || $! == EINTR || $! == EWOULDBLOCK;
                $p->{reset} = 1;
                $p->{eof_at} = time - $t0;
            } elsif ($n == 0) {
                $p->{eof_at} = time - $t0;
            } else {
                $p->{first_data_at} //= time - $t0;
            }
        }
    }
    $_->{sock}->blocking(1) for @plans;
    return time - $t0;
}

# Splits what a plan received into the HTTP response and the frames after it.
sub transcript {
    my ($p, $key) = @_;
    my $buf = $p->{buf};
    my $end = index $buf, "\r\n\r\n";
    return { error => 'no complete HTTP response' } if $end < 0;
    my $head = substr $buf, 0, $end + 4, '';
    my $status = $head =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0;
    my ($accept) = $head =~ /^Sec-WebSocket-Accept:\s*(\S+)/mi;
    my $conn = WsTest::Conn->new(undef, $buf);
    my @frames;
    while (my $f = $conn->take_frame) { push @frames, $f }
    return { status => $status, accept_ok => ($accept // '') eq ws_accept($key),
             frames => \@frames, rest => length ${ $conn->buffer_ref } };
}

sub describe { join ' ', map { $_->{opcode} == 9 ? 'ping' : $_->{opcode} == 8 ? 'close(' . (unpack('n', $_->{payload} . "\0\0")) . ')' : "op$_->{opcode}:" . length($_->{payload}) } @_ }

my $T = 1.0;    # websocket_timeout

### slowloris ###############################################################

my @slow;
for my $i (1 .. 40) {
    my ($req) = $t->ws_request('/ws');
    my @bytes = split //, $req;
    push @slow, { name => "slowloris $i", kind => 'slowloris', len => length $req,
        steps => [map { [$_, $bytes[$_]] } 0 .. $#bytes], until => 8 };
}

### a WebSocket echoing through it all ######################################

my @plans;
my ($req_busy, $key_busy) = $t->ws_request('/ws');
my @busy_msgs = map { "busy $_" } 1 .. 20;
push @plans, { name => 'busy', key => $key_busy, until => 5.5,
    steps => [[0, $req_busy], map { [0.1 + 0.25 * $_, ws_frame(opcode => 1, payload => $busy_msgs[$_])] } 0 .. $#busy_msgs] };

### a handshake slower than a packet, faster than the header timeout ########

my ($req_late, $key_late) = $t->ws_request('/ws');
my $third = int(length($req_late) / 3);
my @late_msgs = map { "late $_" } 1 .. 5;
push @plans, { name => 'slow handshake', key => $key_late, until => 4.6,
    steps => [
        [0,   substr($req_late, 0, $third)],
        [0.7, substr($req_late, $third, $third)],
        [1.4, substr($req_late, 2 * $third)],
        # 2.0 s is when a header timer left armed would fire.
        map { [2.0 + 0.6 * $_, ws_frame(opcode => 1, payload => $late_msgs[$_])] } 0 .. $#late_msgs,
    ] };

### trickled just under websocket_timeout ###################################

my $utf8 = "\xC3\xA9!";    # e-acute split across two trickled bytes
my @tail = map { ws_frame(opcode => 2, payload => "after $_") } 1 .. 3;
{
    my ($req, $key) = $t->ws_request('/ws');
    my @bytes = split //, ws_frame(opcode => 1, payload => $utf8);
    my $gap = 0.6 * $T;
    push @plans, { name => 'trickle under timeout', key => $key, until => 0.3 + $gap * @bytes + 0.5,
        steps => [[0, $req], (map { [0.3 + $gap * $_, $bytes[$_]] } 0 .. $#bytes),
            [0.3 + $gap * @bytes, join '', @tail]] };
}

### pieces with gaps over websocket_timeout #################################

{
    my ($req, $key) = $t->ws_request('/ws');
    my $f = ws_frame(opcode => 1, payload => $utf8 . 'over');
    # Split inside the length byte's neighbourhood, the mask key and the payload.
    my @pieces = (substr($f, 0, 1), substr($f, 1, 3), substr($f, 4, 4), substr($f, 8));
    my $gap = 1.4 * $T;
    push @plans, { name => 'pieces over timeout', key => $key, until => 0.3 + $gap * @pieces + 0.3,
        steps => [[0, $req], (map { [0.3 + $gap * $_, $pieces[$_]] } 0 .. $#pieces),
            [0.3 + $gap * @pieces - $gap + 0.3, join '', @tail]] };
}

### a fragmented message with a ping inside, in odd chunks ##################

{
    my ($req, $key) = $t->ws_request('/ws');
    my $bytes = ws_frame(opcode => 1, fin => 0, payload => "a\xC3")
        . ws_frame(opcode => 9, payload => 'p')
        . ws_frame(opcode => 0, fin => 1, payload => "\xA9b");
    my @cuts = (1, 3, 7, 9, 12, 15, 18, 20);    # 9 chunks
    my @chunks;
    my $prev = 0;
    for my $c (@cuts, length $bytes) { push @chunks, substr($bytes, $prev, $c - $prev); $prev = $c }
    my $gap = 0.55 * $T;
    push @plans, { name => 'fragmented in chunks', key => $key, until => 0.3 + $gap * @chunks + 0.4,
        steps => [[0, $req], (map { [0.3 + $gap * $_, $chunks[$_]] } 0 .. $#chunks),
            [0.3 + $gap * @chunks, join '', @tail]] };
}

my $elapsed = run_plans(@slow, @plans);
diag sprintf 'slow-client phase ran %.1f s', $elapsed;

### slowloris: every one ended by the header timeout ########################

{
    my @open = grep { !defined $_->{eof_at} } @slow;
    my @answered = grep { length $_->{buf} } @slow;
    my @complete = grep { $_->{sent} >= $_->{len} } @slow;
    my $latest = 0;
    my $most_sent = 0;
    for (@slow) {
        $latest = $_->{eof_at} if defined $_->{eof_at} && $_->{eof_at} > $latest;
        $most_sent = $_->{sent} if $_->{sent} > $most_sent;
    }
    is scalar @open, 0, 'every slowloris connection was closed by the server';
    cmp_ok $latest, '<=', 4.5, sprintf 'within 4.5 s of connecting (latest %.1f s; client_header_timeout 2s)', $latest;
    cmp_ok $most_sent, '<', 10, "after at most a few bytes each (most: $most_sent of $slow[0]{len})";
    is scalar @answered, 0, 'no slowloris connection got any response';
    is scalar @complete, 0, 'none got its request through';
    my $logged = $t->count_log(qr/client timed out/);
    cmp_ok $logged, '>=', scalar @slow, "error log: $logged 'client timed out' lines";
    diag sprintf '%d slowloris connections, all closed by %.1f s after at most %d bytes',
        scalar @slow, $latest, $most_sent;
}

my %plan = map { $_->{name} => $_ } @plans;

sub data_frames { grep { $_->{opcode} != 9 && $_->{opcode} != 10 } @_ }

### the busy WebSocket kept echoing ##########################################

{
    my $p = $plan{busy};
    my $tr = transcript($p, $p->{key});
    ok $tr->{status} == 101 && $tr->{accept_ok}, 'busy connection: 101 with the right accept';
    my @got = map { $_->{payload} } data_frames(@{ $tr->{frames} || [] });
    is_deeply \@got, \@busy_msgs, 'busy connection: all 20 echoes arrived during the slowloris, in order';
    ok !defined $p->{eof_at}, 'busy connection: still open';
}

### the slow but timely handshake ###########################################

{
    my $p = $plan{'slow handshake'};
    my $tr = transcript($p, $p->{key});
    ok $tr->{status} == 101 && $tr->{accept_ok}, 'handshake sent over 1.4 s: 101';
    my @got = map { $_->{payload} } data_frames(@{ $tr->{frames} || [] });
    is_deeply \@got, \@late_msgs, 'echoes after the header timeout would have fired (2.0 s to 4.4 s)'
        or diag 'frames: ' . describe(@{ $tr->{frames} || [] });
    ok !defined $p->{eof_at}, 'the header timer did not close it';
}

### trickles ##################################################################

{
    my $p = $plan{'trickle under timeout'};
    my $tr = transcript($p, $p->{key});
    my @f = @{ $tr->{frames} || [] };
    ok $tr->{status} == 101, 'trickle under timeout: 101';
    my @pings = grep { $_->{opcode} == 9 } @f;
    is scalar @pings, 0, 'no ping while a byte arrived every 0.6 s (timeout 1 s): each byte restarts the idle timer';
    my @d = data_frames(@f);
    is scalar @d, 4, 'four echoes (the trickled frame and three after it)' or diag describe(@f);
    ok @d && $d[0]{opcode} == 1 && $d[0]{fin} && $d[0]{payload} eq $utf8,
        'the frame trickled one byte at a time is echoed intact (UTF-8 split across reads)';
    is_deeply [map { $_->{payload} } @d[1 .. $#d]], [map { "after $_" } 1 .. 3],
        'frames sent after it are echoed: the stream did not desync';
    ok !defined $p->{eof_at}, 'still open';
}

{
    my $p = $plan{'pieces over timeout'};
    my $tr = transcript($p, $p->{key});
    my @f = @{ $tr->{frames} || [] };
    ok $tr->{status} == 101, 'pieces over timeout: 101';
    my @pings = grep { $_->{opcode} == 9 } @f;
    my @d = data_frames(@f);
    cmp_ok scalar @pings, '>=', 2, scalar(@pings) . ' server pings while the frame was incomplete (gaps 1.4 s, timeout 1 s)';
    ok !grep({ $_->{opcode} == 8 } @f), 'no close: something arrived within twice the timeout each time'
        or diag describe(@f);
    ok @d && $d[0]{opcode} == 1 && $d[0]{payload} eq "${utf8}over",
        'the frame that spanned several timeouts is echoed intact' or diag describe(@f);
    is_deeply [map { $_->{payload} } @d[1 .. $#d]], [map { "after $_" } 1 .. 3],
        'and the frames after it: no byte lost or repeated across the timeouts';
    ok !defined $p->{eof_at}, 'still open';
}

{
    my $p = $plan{'fragmented in chunks'};
    my $tr = transcript($p, $p->{key});
    my @f = @{ $tr->{frames} || [] };
    ok $tr->{status} == 101, 'fragmented in chunks: 101';
    my @pongs = grep { $_->{opcode} == 10 } @f;
    ok @pongs == 1 && $pongs[0]{payload} eq 'p', 'the ping between the fragments is answered once, with its payload';
    ok !grep({ $_->{opcode} == 9 } @f), 'no server ping (chunks every 0.55 s)';
    my @d = data_frames(@f);
    my $msg = join '', map { $_->{payload} } @d[0, 1];
    ok @d >= 2 && $d[0]{opcode} == 1 && !$d[0]{fin} && $d[1]{opcode} == 0 && $d[1]{fin} && $msg eq "a\xC3\xA9b",
        'the fragmented text message is echoed with its fragments' or diag describe(@f);
    is_deeply [map { $_->{payload} } @d[2 .. $#d]], [map { "after $_" } 1 .. 3], 'and the frames after it';
}

is_deeply [$t->worker_pids], \@workers, 'same worker throughout';

### frames behind the handshake, larger than the module's input buffer #######
# nginx reads the request into its header buffer (client_header_buffer_size,
# large_client_header_buffers), and whatever the client sent behind the
# request is in that buffer too. With buffers over 16 KiB, that can be more
# than the module's input buffer: every byte must still be echoed.

$t->stop;

for my $case (
    ['client_header_buffer_size 64k', ''],
    ['large_client_header_buffers 4 64k', 'x' x 3000],    # a big cookie forces a large buffer
) {
    my ($directive, $cookie) = @$case;
    my $t2 = WsTest->new;
    $t2->write_config(WsTest::echo_config(server => "$directive;"));
    $t2->run;
    my @msgs = map { sprintf('%05d', $_) x 20 } 1 .. 400;    # 400 frames, 42 KiB
    my $c = $t2->ws_connect('/ws', ($cookie ? (Cookie => "c=$cookie") : ()),
        -after => join '', map { ws_frame(opcode => 2, payload => $_) } @msgs);
    my $n = 0;
    my $why = '';
    for my $want (@msgs) {
        my $m = $c->read_message(timeout => 3);
        if (!$m) { $why = 'timeout'; last }
        if ($m->{eof} || $m->{opcode} != 2) { $why = $m->{eof} ? 'EOF' : "opcode $m->{opcode}"; last }
        if ($m->{payload} ne $want) { $why = 'wrong payload'; last }
        $n++;
    }
    is $n, scalar @msgs, "$directive: all 400 frames (42 KiB) sent with the handshake are echoed"
        or diag "stopped after $n echoes: $why";
    $c->echo_ok(1, 'and then', "$directive: the connection is still in sync", timeout => 3);
    $t2->stop;
}

done_testing;
