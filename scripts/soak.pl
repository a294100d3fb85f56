#!/usr/bin/env perl
# The memory soak behind scripts/soak: echoes MESSAGES messages (default one
# million) through one nginx worker over CONNECTIONS connections, checks every
# echo byte for byte, and samples the worker's RSS. Connections come and go
# (each closes cleanly after 300 to 1800 messages and a new one takes its
# place), so per-connection state that leaked would show too.
#
# Messages: mostly small text and binary (16 B - 2 KiB), some up to 16 KiB
# (echoed whole) and 1 in 50 up to 64 KiB (streamed through), with a ping
# now and then. Each connection keeps WINDOW messages in flight.
#
# Prints messages/s, the RSS after warm-up (the first 10% of messages) and at
# the end; exits 1 if an echo is wrong, a connection fails, the error log has
# an alert/crit, or the RSS grew more than --max-growth-kb after warm-up.
#
# Usage: scripts/soak.pl [--messages N] [--connections N] [--window N]
#                        [--max-growth-kb N]
# Needs TEST_NGINX_MODULE (and TEST_NGINX_BINARY), like t/.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use Getopt::Long;
use IO::Select;
use Time::HiRes qw(time);
use WsTest qw(ws_frame ws_accept close_payload);

my %o = (messages => 1_000_000, connections => 64, window => 8, 'max-growth-kb' => 1024);
GetOptions(\%o, 'messages=i', 'connections=i', 'window=i', 'max-growth-kb=i', 'seed=i')
    or die "usage: $0 [--messages N] [--connections N] [--window N] [--max-growth-kb N] [--seed N]\n";
my $seed = $o{seed} // int(time * 1000) % 1_000_000;
srand $seed;
$| = 1;
$ENV{TEST_NGINX_WATCHDOG} //= 3600;

my $t = WsTest->new;
$t->write_config(WsTest::echo_config(
    http     => 'access_log off;',
    location => 'websocket_timeout 60s;',
));
$t->run;
my ($worker) = $t->worker_pids;
my $fd0 = $t->fd_baseline($worker);
my $rss_start = $t->rss_kb($worker);

### the message pool ##########################################################
# Frames are prepared once (masked with a per-frame key) and sent many times;
# the server cannot tell, and the client checks each echo against the pool.

my $src = join '', map { pack 'N', int rand 2**32 } 1 .. 16384;      # 64 KiB of noise
my $ascii = join '', map { chr(32 + int rand 95) } 1 .. 65536;     # 64 KiB of text
my @pool;    # [frame bytes, opcode, payload]
for my $i (1 .. 600) {
    my $r = rand;
    my $len = $r < 0.60 ? 16 + int rand 240
            : $r < 0.88 ? 256 + int rand 1792
            : $r < 0.98 ? 2048 + int rand 14000
            :             16384 + int rand 49152;
    my $op = rand() < 0.5 ? 1 : 2;
    my $payload = substr($op == 1 ? $ascii : $src, int rand(65536 - $len + 1), $len);
    push @pool, [ws_frame(opcode => $op, payload => $payload), $op, $payload];
}
my $PING = [ws_frame(opcode => 9, payload => 'soak ping'), 10, 'soak ping'];

### connections ###############################################################

my $sent_total = 0;       # messages sent
my $echoed = 0;           # messages echoed correctly (pings: answered)
my $bytes = 0;            # payload bytes echoed
my $conns_opened = 0;
my $errors = 0;
my @err_samples;

sub fail_conn {
    my ($c, $why) = @_;
    $errors++;
    push @err_samples, "connection $c->{id}: $why" if @err_samples < 5;
    $c->{dead} = 1;
}

sub open_conn {
    my ($id) = @_;
    my $c = $t->ws_connect('/ws');
    $c->sock->blocking(0);
    $conns_opened++;
    return { id => $id, conn => $c, sock => $c->sock, out => '', inflight => [],
             budget => 300 + int rand 1500, partial => undef };
}

my @conns = map { open_conn($_) } 1 .. $o{connections};

sub top_up {
    my ($c) = @_;
    return if $c->{closing} || $c->{dead};
    while (@{ $c->{inflight} } < $o{window} && $c->{budget} > 0 && $sent_total < $o{messages}) {
        my $m = rand() < 0.01 ? $PING : $pool[int rand @pool];
        $c->{out} .= $m->[0];
        push @{ $c->{inflight} }, $m;
        $c->{budget}--;
        $sent_total++;
    }
    if (!@{ $c->{inflight} } && ($c->{budget} <= 0 || $sent_total >= $o{messages})) {
        # Done with this connection: a clean close, then (unless the run is
        # over) a new connection in its place.
        $c->{out} .= ws_frame(opcode => 8, payload => close_payload(1000));
        $c->{closing} = time;
    }
}

# Frames that arrived: check them against what is in flight.
sub take {
    my ($c) = @_;
    while (my $f = $c->{conn}->take_frame) {
        if ($c->{closing} && $f->{opcode} == 8) {
            my $code = length $f->{payload} >= 2 ? unpack('n', $f->{payload}) : 0;
            return fail_conn($c, "close $code in answer to close 1000") if $code != 1000;
            $c->{got_close} = 1;
            next;
        }
        return fail_conn($c, "unexpected close " . unpack('n', $f->{payload} . "\0\0")) if $f->{opcode} == 8;
        return fail_conn($c, 'masked server frame') if $f->{masked};
        my $want = $c->{inflight}[0] or return fail_conn($c, "frame opcode $f->{opcode} with nothing in flight");
        if ($want->[1] == 10) {
            return fail_conn($c, "opcode $f->{opcode} where a pong was due") if $f->{opcode} != 10;
            return fail_conn($c, 'pong payload differs') if $f->{payload} ne $want->[2];
            shift @{ $c->{inflight} };
            $echoed++;
            next;
        }
        my $want_op = defined $c->{partial} ? 0 : $want->[1];
        return fail_conn($c, "opcode $f->{opcode}, want $want_op") if $f->{opcode} != $want_op;
        $c->{partial} .= $f->{payload};
        next unless $f->{fin};
        return fail_conn($c, sprintf 'echo differs (%d bytes, want %d)', length $c->{partial}, length $want->[2])
            if $c->{partial} ne $want->[2];
        $bytes += length $c->{partial};
        $c->{partial} = undef;
        shift @{ $c->{inflight} };
        $echoed++;
    }
}

### the run #####################################################################

my $warm_at = int($o{messages} / 10);
my ($rss_warm, $t_warm, @samples);
my $next_sample = $warm_at;
my $t0 = time;
my $deadline = $t0 + ($ENV{SOAK_TIMEOUT} // 1800);
my $next_id = $o{connections} + 1;
printf "soak: %d messages over %d concurrent connections (window %d), seed %d; worker RSS at start %d kB\n",
    $o{messages}, $o{connections}, $o{window}, $seed, $rss_start;

while (time < $deadline) {
    # Replace connections that finished their close handshake.
    for my $i (0 .. $#conns) {
        my $c = $conns[$i];
        next unless $c->{eof} && !$c->{dead} && !$c->{done};
        if (!$c->{got_close}) { fail_conn($c, 'EOF without a close frame'); next }
        $c->{conn}->close;
        $conns[$i] = $sent_total < $o{messages} ? open_conn($next_id++) : { done => 1, eof => 1 };
    }
    last if $errors;
    my @live = grep { !$_->{done} && !$_->{dead} && !$_->{eof} } @conns;
    last unless @live;
    top_up($_) for @live;
    my %by = map { fileno($_->{sock}) => $_ } @live;
    my ($r, $w) = IO::Select->select(IO::Select->new(map { $_->{sock} } @live),
        IO::Select->new(map { $_->{sock} } grep { length $_->{out} } @live), undef, 1);
    for my $s (@{ $w || [] }) {
        my $c = $by{ fileno $s };
        my $n = syswrite($s, $c->{out});
        if (defined $n) { substr($c->{out}, 0, $n, '') }
        elsif ($! != EAGAIN && $! != EINTR && $! != EWOULDBLOCK) { fail_conn($c, "write: $!") }
    }
    for my $s (@{ $r || [] }) {
        my $c = $by{ fileno $s };
        next if $c->{dead};
        my $buf = $c->{conn}->buffer_ref;
        my $n = sysread($s, $$buf, 262144, length $$buf);
        next if !defined $n && ($! == EAGAIN || $! == EINTR || $! == EWOULDBLOCK);
        take($c);
        if (!$n) {
            $c->{eof} = 1;
            fail_conn($c, 'EOF with messages in flight') if @{ $c->{inflight} } && !$c->{dead};
        }
    }
    if ($echoed >= $next_sample) {
        my $rss = $t->rss_kb($worker);
        if (!defined $rss_warm) {
            ($rss_warm, $t_warm) = ($rss, time);
            printf "  warm-up done: %d messages, worker RSS %d kB\n", $echoed, $rss;
        } else {
            printf "  %7d messages  %6.0f msg/s  worker RSS %d kB\n", $echoed,
                ($echoed - $warm_at) / (time - $t_warm || 1), $rss;
        }
        push @samples, [$echoed, $rss];
        $next_sample += $warm_at;
    }
}
my $elapsed = time - $t0;
my $rss_end = $t->rss_kb($worker);
my $hwm = $t->hwm_kb($worker);

# Everything closed: the worker holds no connection.
$_->{conn} && $_->{conn}->close for @conns;
my $released = WsTest::wait_until(sub { ($t->fd_count($worker) // 1e9) <= $fd0 }, 10);
my $rss_idle = $t->rss_kb($worker);
my @bad = $t->bad_log_lines;
my @workers = $t->worker_pids;
$t->stop(quiet => 1);

my $growth = defined $rss_warm ? $rss_end - $rss_warm : 0;
printf "soak: %d messages echoed (%.1f MiB of payload) in %.1f s: %.0f messages/s, over %d connections opened\n",
    $echoed, $bytes / 1048576, $elapsed, $echoed / ($elapsed || 1), $conns_opened;
printf "soak: worker RSS %d kB at start, %d kB after warm-up, %d kB at the end (%+d kB), %d kB after all closed; peak %d kB\n",
    $rss_start, $rss_warm // 0, $rss_end, $growth, $rss_idle, $hwm // 0;

my @why;
push @why, "$errors connection error(s): " . join('; ', @err_samples) if $errors;
push @why, "only $echoed of $o{messages} messages echoed" if $echoed < $o{messages};
push @why, "RSS grew $growth kB after warm-up (limit $o{'max-growth-kb'} kB)" if $growth > $o{'max-growth-kb'};
push @why, 'connections not released at the end' unless $released;
push @why, 'the worker changed (crash?)' unless "@workers" eq "$worker";
push @why, 'error log: ' . join(' | ', @bad[0 .. ($#bad < 4 ? $#bad : 4)]) if @bad;
if (@why) {
    print "soak: FAILED: $_\n" for @why;
    print "soak: nginx prefix kept: " . $t->prefix . "\n";
    $ENV{TEST_NGINX_LEAVE} = 1;
    exit 1;
}
print "soak: PASSED (RSS flat after warm-up: $growth kB <= $o{'max-growth-kb'} kB)\n";
exit 0;
