# Decompression bombs under permessage-deflate, with the worker's RSS
# measured before and after (and sampled meanwhile):
#  - ~10 KB of compressed zeros that inflate to 10 MiB in one frame, at the
#    default websocket_max_payload_len (1m): close 1009 as soon as the
#    inflated bytes cross the limit, logged at info naming the directive,
#    worker RSS (and its peak) grows by less than 1 MiB. The same in a text
#    frame and in a continuation frame.
#  - with websocket_max_payload_len 2g and websocket_max_message_len off,
#    ~1 MB of compressed zeros that inflate to 1 GiB in one frame is echoed
#    back (compressed, RSV1 on the first frame only) while the client
#    inflates the echo as it streams in (never holding more than 1 MiB of
#    it); the worker RSS grows by less than 16 MiB meanwhile. Bounded to
#    120 s.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Compress::Raw::Zlib;
use Errno qw(EAGAIN EINTR);
use IO::Select;
use Time::HiRes qw(time);
use WsTest qw(ws_frame close_payload);
use WsDeflate qw(deflater compress_part compress_msg);

use constant MiB => 1024 * 1024;
use constant GiB => 1024 * MiB;

my $t = WsTest->new;
$t->write_config(WsTest::echo_config(
    location => 'websocket_deflate on;',
    server   => 'location /big { websocket_echo; websocket_deflate on; websocket_max_payload_len 2g;'
        . ' websocket_max_message_len off; websocket_timeout 120s; }',
));
$t->run;

my $P   = 'permessage-deflate';
my $NCT = "$P; server_no_context_takeover; client_no_context_takeover";

# The client compresses at level 9 (deflater, compress_part, compress_msg:
# t/lib/WsDeflate.pm).
sub deflater9 { deflater(level => 9) }

sub dconn {
    my ($path) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $c = $t->ws_connect($path, 'Sec-WebSocket-Extensions' => $P);
    is $c->response->{headers}{'sec-websocket-extensions'}, $NCT, "$path: permessage-deflate negotiated";
    return $c;
}

# WsTest's run() returns once the worker exists: without its pid every RSS
# figure below would be undef, so stop rather than compare 0 with 0.
my ($worker) = $t->worker_pids;
ok $worker, 'found the worker process (' . ($worker // 'none') . ')'
    or die "no worker process to measure\n";

# Warm up: a few compressed echoes on both locations, so that what one
# connection costs (buffers, zlib state) is paged in before measuring.
for my $path ('/ws', '/big') {
    my $c = dconn($path);
    for my $size (100, 200_000, 900_000) {
        my $text = join '', map { chr(0x61 + int rand 26) } 1 .. 1000;
        $text = substr($text x ($size / 1000 + 1), 0, $size);
        $c->send_frame(opcode => 1, rsv => 4, payload => compress_msg($text, deflater9()));
        my $m = $c->read_message(timeout => 10);
        ok $m && !$m->{eof} && $m->{opcode} == 1 && ($m->{rsv} & 4), "warm-up on $path: $size bytes echoed compressed";
    }
    $c->send_frame(opcode => 8, payload => close_payload(1000));
    $c->close_ok(1000, "warm-up on $path: clean close");
    $c->close;
}

### 10 MiB of zeros at the default limit ##################################

my $bomb = compress_msg("\0" x (10 * MiB), deflater9());
cmp_ok length $bomb, '<', 12 * 1024, 'the 10 MiB bomb is ' . length($bomb) . ' bytes compressed';

for my $case (
    ['one binary frame' => sub { ws_frame(opcode => 2, rsv => 4, payload => $bomb) }],
    ['one text frame' => sub { ws_frame(opcode => 1, rsv => 4, payload => $bomb) }],
    ['a continuation frame' => sub {
        my $d = deflater9();
        my $first = compress_part($d, 'x' x 100);
        ws_frame(opcode => 2, rsv => 4, fin => 0, payload => $first)
            . ws_frame(opcode => 0, fin => 1, payload => compress_msg("\0" x (10 * MiB), $d));
    }],
) {
    my ($name, $bytes) = @$case;
    my $c = dconn('/ws');
    my $mark = -s ($t->prefix . '/logs/error.log') // 0;
    my $rss0 = $t->rss_kb($worker);
    my $hwm0 = $t->hwm_kb($worker);
    my $t0 = time;
    $c->send_raw($bytes->());
    my ($ok, $r) = $c->close_ok(1009, "10 MiB bomb in $name: close 1009, then EOF", allow_skipped => 1);
    my $took = time - $t0;
    my $rss1 = $t->rss_kb($worker);
    my $hwm1 = $t->hwm_kb($worker);
    my $echoed = 0;
    $echoed += length $_->{payload} for grep { $_->{opcode} <= 2 } @{ $r->{skipped} || [] };
    cmp_ok $took, '<', 5, sprintf '%s: the close came after %.2f s', $name, $took;
    cmp_ok $rss1 - $rss0, '<', 1024, sprintf '%s: worker RSS grew by %d kB (limit 1 MiB; %d -> %d kB)',
        $name, $rss1 - $rss0, $rss0, $rss1;
    cmp_ok $hwm1 - $hwm0, '<', 1024, sprintf '%s: worker peak RSS grew by %d kB (limit 1 MiB; %d -> %d kB)',
        $name, $hwm1 - $hwm0, $hwm0, $hwm1;
    cmp_ok $echoed, '<=', MiB, "$name: at most 1 MiB (compressed) echoed before the close ($echoed bytes)";
    my $line = WsTest::wait_until(sub {
        (grep { /\[info\].*websocket_max_payload_len/ } split /\n/, substr($t->error_log, $mark))[0];
    }, 5);
    ok $line, "$name: info line naming websocket_max_payload_len" or diag substr($t->error_log, $mark);
    $c->close;
}

### 1 GiB of zeros under websocket_max_payload_len 2g #####################

{
    my $d = deflater9();
    my $zeros = "\0" x MiB;
    my $z = '';
    $z .= compress_part($d, $zeros) for 1 .. 1024;
    $z =~ s/\x00\x00\xff\xff\z// or die "no 00 00 ff ff at the end\n";
    undef $zeros;
    cmp_ok length $z, '<', 2 * MiB, sprintf 'the 1 GiB bomb is %d bytes compressed', length $z;
    my $frame = ws_frame(opcode => 2, rsv => 4, payload => $z);

    my $c = dconn('/big');
    my $sock = $c->sock;
    $sock->blocking(0);
    my $buf = $c->buffer_ref;
    my $rss0 = $t->rss_kb($worker);
    my $hwm0 = $t->hwm_kb($worker);
    my $peak = $rss0;

    my ($i, $st) = Compress::Raw::Zlib::Inflate->new(-WindowBits => -15, -LimitOutput => 1,
        -AppendOutput => 0, -Bufsize => MiB);
    die "inflateInit2: $st\n" unless $st == Z_OK;
    my ($total, $nonzero, $frames, $first, $later_rsv, $done, $bad, $controls) = (0, 0, 0, undef, 0, 0, '', 0);
    my $inflate = sub {
        my ($in) = @_;
        while (1) {
            my $out;
            my $s = $i->inflate($in, $out);
            if ($s != Z_OK && $s != Z_BUF_ERROR) { $bad ||= "inflate: $s (" . ($i->msg // '') . ')'; return }
            $total += length $out;
            $nonzero ||= $out =~ tr/\0//c;
            last if !length $out && ($s == Z_BUF_ERROR || !length $in);
        }
    };

    my $sel = IO::Select->new($sock);
    my $off = 0;
    my $t0 = time;
    my $deadline = $t0 + 120;
    my $next_sample = 0;
    while (!$done && !$bad && time < $deadline) {
        my ($r, $w) = IO::Select->select($sel, $off < length $frame ? $sel : undef, undef, 1);
        if ($w && @$w) {
            my $n = syswrite($sock, $frame, 256 * 1024, $off);
            if (defined $n) { $off += $n } elsif ($! != EAGAIN && $! != EINTR) { $bad = "write: $!"; last }
        }
        if ($r && @$r) {
            my $n = sysread($sock, $$buf, MiB, length $$buf);
            if (!defined $n) { next if $! == EAGAIN || $! == EINTR; $bad = "read: $!"; last }
            if ($n == 0) { $bad = 'EOF before the echo ended'; last }
            while (my $f = $c->take_frame) {
                if ($f->{opcode} == 9 || $f->{opcode} == 10) { $controls++; next }
                if ($f->{opcode} == 8) {
                    $bad = 'close frame' . ($f->{len} >= 2 ? ' ' . unpack('n', $f->{payload}) . ' ' . substr($f->{payload}, 2) : '');
                    last;
                }
                $frames++;
                if (!$first) { $first = $f } else {
                    $later_rsv |= $f->{rsv};
                    $bad ||= "opcode $f->{opcode} inside the echo" if $f->{opcode} != 0;
                }
                $bad ||= 'masked server frame' if $f->{masked};
                $inflate->($f->{payload});
                if ($f->{fin}) { $inflate->("\x00\x00\xff\xff"); $inflate->(''); $done = 1; last }
            }
        }
        if (time >= $next_sample) {
            my $rss = $t->rss_kb($worker) // 0;
            $peak = $rss if $rss > $peak;
            $next_sample = time + 0.05;
        }
    }
    my $took = time - $t0;
    my $rss1 = $t->rss_kb($worker) // 0;
    $peak = $rss1 if $rss1 > $peak;
    my $hwm1 = $t->hwm_kb($worker);

    ok !$bad, 'the 1 GiB bomb: no error while it streamed back' or diag $bad;
    ok $done, sprintf 'the echo ended within the deadline (%.1f s; sent %d of %d bytes, %d frames back)',
        $took, $off, length $frame, $frames;
    is $off, length $frame, 'all of the compressed frame was sent';
    is $first && $first->{opcode}, 2, 'the echo is binary';
    ok $first && ($first->{rsv} & 4), 'the echo is compressed (RSV1 on its first frame)';
    ok !($first && ($first->{rsv} & 3)) && !$later_rsv, 'no RSV1 on its continuations, no RSV2/RSV3'
        or diag "first rsv " . ($first ? $first->{rsv} : '-') . ", later $later_rsv";
    is $total, GiB, 'the echo inflates to 1 GiB';
    ok !$nonzero, 'of zeros';
    is $controls, 0, 'no ping or pong meanwhile';
    cmp_ok $peak - $rss0, '<', 16 * 1024, sprintf 'worker RSS grew by %d kB at most while streaming 1 GiB '
        . '(limit 16 MiB; %d kB before, peak %d kB, after %d kB)', $peak - $rss0, $rss0, $peak, $rss1;
    cmp_ok $hwm1 - $hwm0, '<', 16 * 1024, sprintf 'worker peak RSS (VmHWM) grew by %d kB (limit 16 MiB)',
        $hwm1 - $hwm0;
    cmp_ok $took, '<', 120, sprintf 'took %.1f s', $took;

    if ($done && !$bad) {
        $c->send_frame(opcode => 8, payload => close_payload(1000));
        $c->close_ok(1000, 'clean close after the 1 GiB echo');
    }
    $c->close;
}

# Still serving.
{
    my $c = dconn('/ws');
    my $text = 'after the bombs ' x 10;
    $c->send_frame(opcode => 1, rsv => 4, payload => compress_msg($text, deflater9()));
    my $m = $c->read_message;
    my ($i) = Compress::Raw::Zlib::Inflate->new(-WindowBits => -15, -AppendOutput => 1);
    my $in = ($m->{payload} // '') . "\x00\x00\xff\xff";
    my $out = '';
    $i->inflate($in, $out) if $m && ($m->{rsv} // 0) & 4;
    is $out, $text, 'a fresh connection after the bombs echoes (compressed)';
    $c->close;
}

$t->stop;
done_testing;
