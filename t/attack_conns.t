# 10,000 WebSocket connections held open at once by one worker: every one
# completes its handshake, a sample of them echoes (small and streamed
# messages), the worker's memory per idle connection is bounded (the module
# gives its buffers back between messages), and when the clients close
# every connection is released.
#
# The client needs 10,000+ descriptors: the test raises its own soft limit
# (up to the hard limit) and fails if that is not enough. nginx gets
# worker_connections and worker_rlimit_nofile to match.
#
# Then, on a second nginx: limit_conn keeps bounding WebSockets per client
# address for as long as they are open.
#
# It takes about 5 s. TEST_NGINX_CONNS=<n> changes the count (scripts/memcheck
# uses 500: under valgrind nginx is far slower).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Errno qw(EAGAIN EINTR EWOULDBLOCK EINPROGRESS);
use IO::Poll qw(POLLIN POLLOUT POLLERR POLLHUP);
use IO::Handle;
use Socket qw(IPPROTO_TCP TCP_NODELAY PF_INET SOCK_STREAM SOL_SOCKET SO_RCVTIMEO sockaddr_in inet_aton);
use Time::HiRes qw(time);
use WsTest qw(ws_frame ws_accept);

# The rest of this file cannot mean anything: say why and end it (not
# BAIL_OUT, which would stop the other files of the run too).
sub give_up { diag $_[0]; done_testing; exit 1 }

my $N = $ENV{TEST_NGINX_CONNS} // (WsTest::under_memcheck() ? 500 : 10_000);
my $SAMPLE = $N < 200 ? $N : 200;
my $BATCH = 1000;

my $limit = WsTest::ensure_nofile($N + 200);
cmp_ok $limit, '>=', $N + 100, "the client may open $N+ descriptors (soft RLIMIT_NOFILE $limit)"
    or give_up("cannot hold $N connections with an fd limit of $limit: raise `ulimit -n`");

my $t = WsTest->new;
my $wc = $N + 1000;
# Within the hard limit: nginx raises both limits, and without
# CAP_SYS_RESOURCE (containers) it cannot go above the hard one.
my $hard = `sh -c 'ulimit -Hn'` =~ /^(\d+)/ ? $1 : 0;
my $nofile = $hard && $hard < $N + 1000 ? $hard : $N + 1000;
# valgrind refuses a change to the hard limit (scripts/memcheck); nginx then
# inherits the test's own limit, raised above.
my $rlimit = WsTest::under_memcheck() ? '' : "worker_rlimit_nofile $nofile;";
$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
$rlimit
events { worker_connections $wc; }
http {
    %%TEST_GLOBALS_HTTP%%
    access_log off;
    server {
        listen 127.0.0.1:%%PORT%% backlog=4096;
        location /ws {
            websocket_echo;
            websocket_timeout 60s;
        }
    }
}
EOF
$t->run;
my ($worker) = $t->worker_pids;
my $fd0 = $t->fd_baseline($worker);
my $rss0 = $t->rss_kb($worker);

### open them, a batch at a time #############################################

my @conns;    # { sock, key, buf, ok }
my $t0 = time;
my $failed = '';
my $addr = sockaddr_in($t->port, inet_aton('127.0.0.1'));
OPEN: while (@conns < $N) {
    my @batch;
    my $n = $N - @conns < $BATCH ? $N - @conns : $BATCH;
    # Connect and send the requests of a batch (the listen backlog holds a
    # batch nginx has not accepted yet), then read their 101s in order.
    for (1 .. $n) {
        socket(my $s, PF_INET, SOCK_STREAM, 0) or do { $failed = "socket: $!"; last OPEN };
        connect($s, $addr) or do { $failed = 'connect #' . (@conns + @batch + 1) . ": $!"; last OPEN };
        setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
        # Reads below block; bound each one to 20 s.
        setsockopt($s, SOL_SOCKET, SO_RCVTIMEO, pack('l!l!', 20, 0));
        binmode $s;
        my ($req, $key) = $t->ws_request('/ws');
        unless (WsTest::write_all($s, $req, 5)) { $failed = "writing a request: $!"; last OPEN }
        push @batch, { sock => $s, key => $key, buf => '' };
    }
    for my $c (@batch) {
        my $end;
        while (($end = index $c->{buf}, "\r\n\r\n") < 0) {
            # (A small read: read_more's 256 KiB reads cost an mmap each.)
            my $got = sysread($c->{sock}, $c->{buf}, 4096, length $c->{buf});
            next if !defined $got && $! == EINTR;
            unless ($got) { $c->{error} = defined $got ? 'EOF before the 101' : "read: $!"; last }
        }
        next if $end < 0;
        my $head = substr $c->{buf}, 0, $end + 4, '';
        my ($accept) = $head =~ /^Sec-WebSocket-Accept:\s*(\S+)/mi;
        $c->{ok} = $head =~ m{^HTTP/1\.1 101 } && ($accept // '') eq ws_accept($c->{key});
        $c->{error} = 'bad response: ' . substr($head, 0, 40) unless $c->{ok};
    }
    push @conns, @batch;
    if (my @bad = grep { !$_->{ok} } @batch) {
        $failed = scalar(@bad) . ' failed handshakes, first: ' . $bad[0]{error};
        last;
    }
}
$_->{sock}->blocking(0) for @conns;
my $open_time = time - $t0;
is $failed, '', "opened $N WebSocket connections" or give_up("could not open the connections: $failed");
my $held = grep { $_->{ok} } @conns;
is $held, $N, "$N handshakes completed (in " . sprintf('%.1f', $open_time) . ' s)';

### held at once ##############################################################

my $fd1 = $t->fd_count($worker);
my $rss1 = $t->rss_kb($worker);
cmp_ok $fd1 - $fd0, '>=', $N, sprintf 'the worker holds all of them at once (%d descriptors, %d at rest)', $fd1, $fd0;
my $per_conn = ($rss1 - $rss0) * 1024 / $N;
# nginx itself needs a few kB per upgraded connection (its pools, the header
# buffer); a module that kept its two 16 KiB buffers on idle connections
# would add 32 kB to that.
cmp_ok $per_conn, '<', 16 * 1024, sprintf 'worker RSS %d kB -> %d kB: %.1f kB per idle connection (limit 16 kB)',
    $rss0, $rss1, $per_conn / 1024 unless WsTest::under_memcheck();

# A sample echoes while all of them are open: each sends a small text and a
# streamed 64 KiB binary message, all at once.
my @sample = @conns[map { int($_ * $N / $SAMPLE) } 0 .. $SAMPLE - 1];
my $big = join '', map { chr(($_ * 13) & 0xFF) } 1 .. 65536;
for my $i (0 .. $#sample) {
    my $c = $sample[$i];
    $c->{out} = ws_frame(opcode => 1, payload => "sample $i") . ws_frame(opcode => 2, payload => $big);
    $c->{want} = ["sample $i", $big];
    $c->{got} = [];
    $c->{conn} = WsTest::Conn->new($c->{sock}, $c->{buf});
}
my $poll = IO::Poll->new;
my %by = map { fileno($_->{sock}) => $_ } @sample;
$poll->mask($_->{sock} => POLLIN | POLLOUT) for @sample;
my $deadline = time + 30;
my $t1 = time;
while (time < $deadline) {
    my @busy = grep { @{ $_->{got} } < 2 && !$_->{bad} } @sample;
    last unless @busy;
    $poll->poll(1);
    for my $s ($poll->handles(POLLOUT)) {
        my $c = $by{ fileno $s };
        my $n = syswrite($s, $c->{out});
        substr($c->{out}, 0, $n, '') if $n;
        $poll->mask($s => POLLIN) unless length $c->{out};
    }
    for my $s ($poll->handles(POLLIN | POLLERR | POLLHUP)) {
        my $c = $by{ fileno $s };
        my $buf = $c->{conn}->buffer_ref;
        my $n = sysread($s, $$buf, 262144, length $$buf);
        next if !defined $n && ($! == EAGAIN || $! == EINTR || $! == EWOULDBLOCK);
        if (!$n) { $c->{bad} = 'EOF'; next }
        while (my $f = $c->{conn}->take_frame) {
            next if $f->{opcode} == 9;
            $c->{partial} .= $f->{payload};
            if ($f->{fin}) { push @{ $c->{got} }, delete $c->{partial} }
        }
    }
}
my $echoed = grep { !$_->{bad} && @{ $_->{got} } == 2 && $_->{got}[0] eq $_->{want}[0] && $_->{got}[1] eq $_->{want}[1] } @sample;
is $echoed, $SAMPLE, sprintf '%d of %d sampled connections echoed a text and a 64 KiB message (%.2f s)',
    $echoed, $SAMPLE, time - $t1;

### closed ######################################################################

$t0 = time;
close $_->{sock} for @conns;
my $released = WsTest::wait_until(sub { ($t->fd_count($worker) // 1e9) <= $fd0 }, 30);
ok $released, sprintf 'all %d connections released after the clients closed (%.1f s)', $N, time - $t0;
my $rss2 = $t->rss_kb($worker);
is_deeply [$t->worker_pids], [$worker], 'the same worker throughout';

diag sprintf '%d connections held at once (handshakes in %.1f s); worker RSS %d kB at rest, %d kB with all open '
    . '(%.1f kB each), %d kB after they closed; %d sampled connections echoed', $held, $open_time,
    $rss0, $rss1, $per_conn / 1024, $rss2, $echoed;

$t->stop;

### limit_conn bounds them per client ######################################
# nginx's own answer to one client opening too many connections must hold
# for WebSockets too: limit_conn counts a connection until it ends, not
# only until its 101.

{
    my $t2 = WsTest->new;
    $t2->write_config(WsTest::echo_config(
        http     => 'limit_conn_zone $binary_remote_addr zone=perip:1m;',
        location => 'limit_conn perip 5;',
    ));
    $t2->run;
    my (@open, @refused);
    for (1 .. 10) {
        my $c = eval { $t2->ws_connect('/ws') };
        if ($c) { push @open, $c } else { push @refused, $@ }
    }
    is scalar @open, 5, 'limit_conn 5: five WebSockets from one address are upgraded while they stay open';
    is scalar(grep { /\b503\b/ } @refused), 5, 'the other five get 503';
    $_->echo_ok(1, 'limited', 'an admitted connection echoes') for $open[0];
    $_->close for splice @open, 0, 2;
    # Closing two frees two slots (once the worker has seen the closes).
    my $again = WsTest::wait_until(sub {
        my $c = eval { $t2->ws_connect('/ws') } or return;
        push @open, $c;
        return @open >= 4 ? 1 : undef;
    }, 5);
    ok $again, 'after two close, two new ones are admitted';
    $_->close for @open;
    $t2->stop;
}

done_testing;
