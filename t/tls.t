# wss:// through nginx's own TLS, with the example config users copy
# (nginx-conf/tls.conf) and a certificate made by openssl at test time:
# the Python `websockets` client runs t/python/roundtrip.py's whole round
# trip over TLS, verifying the certificate; a reload sends close 1001 over
# TLS and the old worker exits; plain HTTP to the TLS port is refused by
# nginx, so the echoes above really went through TLS.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use WsTest;

my $python = $ENV{TEST_NGINX_PYTHON} // 'python3';
my $file = 'nginx-conf/tls.conf';

# roundtrip.py, unchanged, with its `connect` pointed at wss:// and a TLS
# context that trusts only the test certificate (hostname 127.0.0.1 is in
# its subjectAltName, so verification is on).
my $WSS_ROUNDTRIP = <<'PY';
import asyncio, ssl, sys
sys.path.insert(0, sys.argv[1])
import roundtrip
ctx = ssl.create_default_context(cafile=sys.argv[2])
plain = roundtrip.connect
def connect(uri, **kw):
    assert uri.startswith("ws://")
    return plain("wss://" + uri[len("ws://"):], ssl=ctx, **kw)
roundtrip.connect = connect
try:
    asyncio.run(asyncio.wait_for(roundtrip.main(int(sys.argv[3]), sys.argv[4]), 60))
except Exception as e:
    print(f"FAIL {type(e).__name__}: {e}", flush=True)
    sys.exit(1)
sys.exit(1 if roundtrip.failures else 0)
PY

# Connects over wss://, checks one echo, prints READY, then waits for the
# server to close (the test reloads nginx meanwhile) and prints the code.
my $WSS_WAIT_CLOSE = <<'PY';
import asyncio, ssl, sys
try:
    from websockets.asyncio.client import connect
except ImportError:
    from websockets import connect
from websockets.exceptions import ConnectionClosed
ctx = ssl.create_default_context(cafile=sys.argv[1])
async def main():
    async with connect(sys.argv[2], ssl=ctx, open_timeout=10, close_timeout=10) as ws:
        await ws.send("before reload")
        got = await asyncio.wait_for(ws.recv(), 10)
        print("ECHO " + got, flush=True)
        print("READY", flush=True)
        try:
            msg = await asyncio.wait_for(ws.recv(), 20)
            print(f"FAIL unexpected message {msg!r}", flush=True)
        except ConnectionClosed:
            pass
        print(f"CLOSED {ws.close_code} {ws.close_reason}", flush=True)
try:
    asyncio.run(main())
except Exception as e:
    print(f"FAIL {type(e).__name__}: {e}", flush=True)
    sys.exit(1)
PY

my $t = WsTest->new;
my ($cert) = $t->make_cert;
$t->config_from_file($file);
my ($rc, $out) = $t->nginx_t;
is $rc, 0, "$file passes nginx -t" or diag $out;
$t->run;
my $port = $t->port;
# tls.conf has `websocket_deflate on`: websockets' offer gets this answer.
$ENV{ROUNDTRIP_EXTENSIONS} = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

# Not a skip: without the library this file cannot vouch for anything.
($rc, $out) = $t->run_cmd($python, '-c', 'import websockets');
is $rc, 0, 'Python websockets library is importable' or diag $out;

($rc, $out) = $t->run_cmd($python, '-c', $WSS_ROUNDTRIP, "$FindBin::Bin/python", $cert,
    $port, '/echo');
is $rc, 0, 'roundtrip.py over wss:// exits 0' or diag $out;
like $out, qr/^OK roundtrip: \d+ messages, ping answered, close 1000$/m,
    'roundtrip.py over wss:// reports success (text, binary up to 1 MiB, fragments, ping, close 1000)'
    or diag $out;
unlike $out, qr/^FAIL/m, 'no failures over wss://';

ok $t->wait_for_log(qr/"GET \/echo HTTP\/1\.1" 101 /, log => 'access'),
    'access log records the wss:// request with 101';

# The port really is TLS: nginx refuses plain HTTP on it.
my $r = $t->http("GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
    . "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
is $r->{status}, 400, 'a plain ws:// upgrade to the TLS port is refused';
like $r->{body}, qr/plain HTTP request was sent to HTTPS port/, '... by nginx\'s TLS layer';

# Reload while a wss:// client is connected: the exiting worker sends it
# 1001 over TLS and exits well within worker_shutdown_timeout (10 s).
my @old_workers = $t->worker_pids;
is scalar @old_workers, 1, 'one worker before the reload';
my $outfile = $t->prefix . '/logs/wait_close.out';
my $pid = spawn($outfile, $python, '-c', $WSS_WAIT_CLOSE, $cert, "wss://127.0.0.1:$port/echo");
wait_until(sub { slurp($outfile) =~ /^(READY|FAIL.*)$/m }, 15);
like slurp($outfile), qr/^ECHO before reload$/m, 'a wss:// client is connected and echoed'
    or diag slurp($outfile);
SKIP: {
    skip 'the client never got ready', 4 unless slurp($outfile) =~ /^READY$/m;
    my $reloaded = time;
    kill 'HUP', $t->master_pid;
    my $status = wait_pid($pid, 20);
    is $status, 0, 'the client exits 0 after the reload' or diag slurp($outfile);
    like slurp($outfile), qr/^CLOSED 1001 server shutting down$/m,
        'it was closed with 1001 "server shutting down" over TLS' or diag slurp($outfile);
    ok wait_until(sub { !grep { kill 0, $_ } @old_workers }, 8),
        'the old worker exits after the reload (before worker_shutdown_timeout)';
    my $waited = time - $reloaded;
    cmp_ok $waited, '<', 8, sprintf 'closing took %.1f s', $waited;
}
kill 'KILL', $pid if kill 0, $pid;
waitpid $pid, 0;

# The new worker serves wss:// as before.
ok wait_until(sub { my @w = $t->worker_pids; @w && !grep { my $n = $_; grep { $_ == $n } @old_workers } @w }, 10),
    'a new worker is up';
($rc, $out) = $t->run_cmd($python, '-c', $WSS_ROUNDTRIP, "$FindBin::Bin/python", $cert,
    $port, '/echo');
is $rc, 0, 'roundtrip.py over wss:// passes again after the reload' or diag $out;

$t->stop;
done_testing;

sub slurp { WsTest::_slurp($_[0]) }

# Polls $cond until true or $secs pass; returns its last value.
sub wait_until {
    my ($cond, $secs) = @_;
    my $deadline = time + $secs;
    while (1) {
        my $v = $cond->();
        return $v if $v || time > $deadline;
        sleep 0.05;
    }
}

# Runs a command in the background with stdout and stderr into $out.
sub spawn {
    my ($out, @cmd) = @_;
    my $pid = fork // die "fork: $!\n";
    if (!$pid) {
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(126);
        exec @cmd or POSIX::_exit(127);
    }
    return $pid;
}

# Exit code of $pid, or undef (after killing it) if it runs past $secs.
sub wait_pid {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return $? >> 8 if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
    return undef;
}
