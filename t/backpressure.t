# Backpressure: a client that sends 64 MiB of 1 MiB binary frames and does
# not read must see its writes stall long before 64 MiB, and the worker must
# not buffer the echo in memory meanwhile (RSS growth bounded). When the
# client starts reading, every byte comes back in order.
#
# Kernel buffers are pinned small on both sides (listen rcvbuf/sndbuf, client
# SO_RCVBUF/SO_SNDBUF) so that what the module itself buffers dominates.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA;
use Errno qw(EAGAIN EINTR);
use IO::Select;
use Socket qw(SOL_SOCKET SO_RCVBUF SO_SNDBUF);
use Time::HiRes qw(time);
use WsTest qw(ws_frame);

use constant MiB => 1024 * 1024;
my $FRAMES = 64;

my $t = WsTest->new;
$t->write_config(WsTest::echo_config(
    listen   => 'rcvbuf=256k sndbuf=256k',
    # No ping/timeout interference while the client is not reading.
    location => 'websocket_max_payload_len 64m; websocket_timeout 120s;',
));
$t->run;

my $c = $t->ws_connect('/ws');
my $sock = $c->sock;
setsockopt($sock, SOL_SOCKET, SO_RCVBUF, 256 * 1024);
setsockopt($sock, SOL_SOCKET, SO_SNDBUF, 256 * 1024);
$sock->blocking(0);

my ($worker) = $t->worker_pids;
ok $worker, "found the worker process ($worker)";
my $rss0 = $t->rss_kb($worker);
ok $rss0, "baseline worker RSS ${rss0} kB";

# Frame $i carries its index, so reordering changes the checksum.
my $base = substr(pack('N*', map { int rand 2**32 } 1 .. MiB / 4), 0, MiB - 4);
my $sent_sha = Digest::SHA->new(1);
my @pending;    # [frame bytes, offset]
my $next = 0;
sub next_chunk {
    return undef if $next >= $FRAMES;
    my $payload = pack('N', $next++) . $base;
    $sent_sha->add($payload);
    return [ws_frame(opcode => 2, payload => $payload), 0];
}

# Writes what the socket takes now; returns bytes written.
my $written = 0;
sub write_some {
    my $n = 0;
    while (1) {
        @pending or push @pending, next_chunk() // return $n;
        my $p = $pending[0];
        my $w = syswrite($sock, $p->[0], length($p->[0]) - $p->[1], $p->[1]);
        if (!defined $w) {
            return $n if $! == EAGAIN || $! == EINTR;
            die "write failed: $!\n";
        }
        $p->[1] += $w;
        $n += $w;
        $written += $w;
        shift @pending if $p->[1] == length $p->[0];
    }
}

### phase 1: write without reading until the writes stall #################

my $sel = IO::Select->new($sock);
my $deadline = time + 30;
my $stalled = 0;
my $peak_rss = $rss0;
while (time < $deadline) {
    write_some();
    last if $next >= $FRAMES && !@pending;
    # Stalled = the socket stays unwritable for 2 s while we do not read.
    unless ($sel->can_write(2)) { $stalled = 1; last }
    my $rss = $t->rss_kb($worker) // 0;
    $peak_rss = $rss if $rss > $peak_rss;
}
my $rss = $t->rss_kb($worker) // 0;
$peak_rss = $rss if $rss > $peak_rss;

ok $stalled, 'writes stall while the client does not read';
cmp_ok $written, '<', 16 * MiB, sprintf 'only %.1f MiB of %d MiB were accepted before the stall', $written / MiB, $FRAMES;
cmp_ok $peak_rss - $rss0, '<', 32 * 1024, sprintf 'worker RSS grew by %d kB (limit 32 MiB)', $peak_rss - $rss0;

### phase 2: read everything back while writing the rest ###################

my $got_sha = Digest::SHA->new(1);
my ($got_bytes, $messages, $bad) = (0, 0, '');
my $in_message = 0;
$deadline = time + 40;
while (time < $deadline && $messages < $FRAMES) {
    my $want_write = @pending || $next < $FRAMES;
    my ($r, $w) = IO::Select->select($sel, $want_write ? $sel : undef, undef, $deadline - time);
    write_some() if $w && @$w;
    next unless $r && @$r;
    my $buf = $c->buffer_ref;
    my $n = sysread($sock, $$buf, 1024 * 1024, length $$buf);
    if (!defined $n) { next if $! == EAGAIN || $! == EINTR; $bad ||= "read error: $!"; last }
    if ($n == 0) { $bad ||= 'EOF while reading the echo'; last }
    while (my $f = $c->take_frame) {
        if ($f->{opcode} == 9 || $f->{opcode} == 10) { next }
        if ($f->{opcode} == 8) { $bad ||= 'close frame ' . ($f->{len} >= 2 ? unpack 'n', $f->{payload} : ''); last }
        my $want_op = $in_message ? 0 : 2;
        $bad ||= "opcode $f->{opcode}, want $want_op" if $f->{opcode} != $want_op;
        $bad ||= 'masked server frame' if $f->{masked};
        $got_sha->add($f->{payload});
        $got_bytes += length $f->{payload};
        $in_message = !$f->{fin};
        $messages++ if $f->{fin};
    }
    last if $bad;
}

is $bad, '', 'echo stream is well-formed';
is $written, $FRAMES * (MiB + 14), 'all 64 MiB were written once the client read';
is $messages, $FRAMES, "$FRAMES messages echoed";
is $got_bytes, $FRAMES * MiB, 'echoed payload bytes total 64 MiB';
is $got_sha->hexdigest, $sent_sha->hexdigest, 'echoed payload checksum matches, in order';

$c->close;
$t->stop;
done_testing;
