# Resets at random offsets: many connections each send a prefix of one
# valid stream (the upgrade request, then small, large, fragmented, control
# and close frames) and reset (SO_LINGER 0) after a random number of bytes:
# in the request, in a frame header or mask key, in a payload, while the
# server is streaming a large echo back. Some read what comes back first,
# some never read. Afterwards the worker is the same process, holds no
# connection for any of them (its open descriptors are back at baseline),
# a fresh connection works and the error log has no alert or crit.
#
# The seed is printed; TEST_SEED=<n> repeats a run.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use IO::Select;
use Socket qw(SOL_SOCKET SO_SNDBUF);
use Time::HiRes qw(time);
use WsTest qw(ws_frame close_payload);

my $seed = $ENV{TEST_SEED} // int(time * 1000) % 1_000_000;
srand $seed;
diag "seed $seed (TEST_SEED=$seed repeats this run)";

my $t = WsTest->new;
$t->write_config(WsTest::echo_config(
    listen   => 'rcvbuf=64k sndbuf=64k',
    location => 'websocket_max_payload_len 1m; websocket_timeout 5s;',
));
$t->run;
my @workers = $t->worker_pids;
my ($worker) = @workers;
my $fd_base = $t->fd_baseline($worker);

my $N = WsTest::under_memcheck() ? 60 : 400;
my $BATCH = 50;

# One valid stream, with its frames' boundaries for the offsets.
my ($req) = $t->ws_request('/ws');
my @frames = (
    ws_frame(opcode => 1, payload => 'hello'),
    ws_frame(opcode => 2, payload => 'b' x 300),                       # 16-bit length
    ws_frame(opcode => 1, fin => 0, payload => "frag \xC3"),
    ws_frame(opcode => 9, payload => 'ping'),
    ws_frame(opcode => 0, fin => 1, payload => "\xA9 end"),
    ws_frame(opcode => 2, payload => join('', map { chr($_ & 0xFF) } 1 .. 200_000)),   # streamed
    ws_frame(opcode => 1, payload => 'x' x 16000),                     # whole, near the buffer size
    ws_frame(opcode => 10, payload => 'unsolicited pong'),
    ws_frame(opcode => 2, payload => ''),
    ws_frame(opcode => 8, payload => close_payload(1000, 'bye')),
);
my $stream = $req . join '', @frames;
my @bounds = (length $req);
push @bounds, $bounds[-1] + length $_ for @frames;

# Offsets: a third anywhere, a third within a few bytes of a frame or
# request boundary (headers, mask keys), a third inside the request.
sub pick_offset {
    my $r = rand;
    return 1 + int rand(length($stream) - 1) if $r < 1 / 3;
    return 1 + int rand(length $req) if $r < 2 / 3;
    my $b = $bounds[int rand @bounds];
    my $o = $b + int(rand 16) - 2;
    return $o < 1 ? 1 : $o > length $stream ? length $stream : $o;
}

# Bytes in a socket's send queue that the peer has not acknowledged yet
# (SIOCOUTQ); on loopback, bytes the server's socket has not received.
sub unsent {
    my ($sock) = @_;
    my $v = pack 'i', 0;
    ioctl($sock, 0x5411, $v) or return 0;    # SIOCOUTQ == TIOCOUTQ
    return unpack 'i', $v;
}

my (%where, $reads, $total_sent);
my $t0 = time;
for (my $done = 0; $done < $N; $done += $BATCH) {
    my @conns;
    for my $i (1 .. ($N - $done < $BATCH ? $N - $done : $BATCH)) {
        my $s = $t->connect;
        # A small send buffer: a write completes only once the server has
        # taken most of it, so the reset lands where the offset says.
        setsockopt($s, SOL_SOCKET, SO_SNDBUF, 8192);
        $s->blocking(0);
        my $off = pick_offset();
        my $kind = $off <= length $req ? 'request' : 'frames';
        $where{$kind}++;
        push @conns, { sock => $s, off => $off, sent => 0, read => rand() < 0.5 };
    }
    # Send every prefix; half of the clients read meanwhile, half never do.
    my $deadline = time + 5;
    while (time < $deadline) {
        my @pending = grep { !$_->{gone} && $_->{sent} < $_->{off} } @conns;
        last unless @pending;
        my %by = map { fileno($_->{sock}) => $_ } @pending;
        my ($r, $w) = IO::Select->select(
            IO::Select->new(map { $_->{sock} } grep { $_->{read} } @pending),
            IO::Select->new(map { $_->{sock} } @pending), undef, 0.5);
        for my $s (@{ $r || [] }) {
            my $buf;
            my $n = sysread($s, $buf, 65536);
            $by{ fileno $s }{gone} = 1 if defined $n && $n == 0;
            $reads += $n // 0;
        }
        for my $s (@{ $w || [] }) {
            my $c = $by{ fileno $s };
            next if $c->{gone};
            my $n = syswrite($s, $stream, $c->{off} - $c->{sent}, $c->{sent});
            if (defined $n) { $c->{sent} += $n }
            elsif ($! != EAGAIN && $! != EINTR && $! != EWOULDBLOCK) { $c->{gone} = 1 }
        }
    }
    # Let the server take in what was sent (the kernel send queue drains)
    # before the reset discards it; readers keep reading meanwhile.
    $deadline = time + 2;
    while (time < $deadline) {
        my @queued = grep { unsent($_->{sock}) } @conns;
        last unless @queued;
        my @r = IO::Select->new(map { $_->{sock} } grep { $_->{read} && !$_->{gone} } @conns)->can_read(0.01);
        for my $s (@r) {
            my $buf;
            my $n = sysread($s, $buf, 65536);
            $reads += $n // 0;
        }
    }
    # A client that wrote only part of its prefix (the server stopped
    # reading because it did not read the echo) resets all the same.
    for my $c (@conns) {
        $total_sent += $c->{sent};
        WsTest::reset_close($c->{sock});
    }
}
my $elapsed = time - $t0;
diag sprintf '%d connections reset at random offsets (%d in the request, %d in the frames); '
    . '%.1f MiB sent, %.1f MiB read back, in %.1f s', $N, $where{request} // 0, $where{frames} // 0,
    $total_sent / 1048576, ($reads // 0) / 1048576, $elapsed;

my $released = WsTest::wait_until(sub { ($t->fd_count($worker) // 1e9) <= $fd_base }, 10);
ok $released, 'the worker released every reset connection (descriptors back to baseline)'
    or diag 'worker descriptors: ' . $t->fd_count($worker) . ", baseline $fd_base";
is_deeply [$t->worker_pids], \@workers, 'the worker is the same process (no crash, no respawn)';

my $c = $t->ws_connect('/ws');
$c->echo_ok(1, 'after the resets', 'a fresh connection echoes');
$c->echo_ok(2, 'r' x 100_000, 'including a streamed 100 kB message');
$c->send_frame(opcode => 8, payload => close_payload(1000));
$c->close_ok(1000, 'and closes cleanly');

my @bad = $t->bad_log_lines;
ok !@bad, 'the error log has no alert or crit' or diag join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)];
$t->stop;
done_testing;
