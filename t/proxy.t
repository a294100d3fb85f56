# The module as the WebSocket upstream of an nginx reverse proxy, with the
# example config users copy (nginx-conf/proxy.conf): a front server
# proxy_passes /echo with Upgrade/Connection to a back server with
# websocket_echo, both in one nginx on two ports. Clients only ever talk to
# the front: raw frames, the Python `websockets` client, refusals passing
# back through the proxy, the idle ping keeping the tunnel open past
# proxy_read_timeout, and a reload closing the tunnel with 1001.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use WsTest qw(close_payload);

my $python = $ENV{TEST_NGINX_PYTHON} // 'python3';
my $file = 'nginx-conf/proxy.conf';

my $t = WsTest->new;
$t->config_from_file($file);
my ($rc, $out) = $t->nginx_t;
is $rc, 0, "$file passes nginx -t" or diag $out;
$t->run;
my ($front, $back) = ($t->port, $t->port2);
isnt $front, $back, "front ($front) and back ($back) on two ports";

# Raw frames through the front.
my $c = $t->ws_connect('/echo');
is $c->response->{headers}{upgrade}, 'websocket', 'the 101 from the back reaches the client';
$c->echo_ok(1, 'through the proxy', 'text echoes through the proxy');
$c->echo_ok(2, join('', map { chr } 0 .. 255) x 64, 'binary (all byte values, 16 KiB) echoes');
$c->echo_ok(2, 'p' x 300_000, 'a 300 KB frame (streamed by the back) echoes');
$c->send_frame(opcode => 1, fin => 0, payload => 'frag-');
$c->send_frame(opcode => 0, fin => 1, payload => 'mented');
my $m = $c->read_message;
is $m && $m->{payload}, 'frag-mented', 'a fragmented message echoes';
$c->send_frame(opcode => 9, payload => 'are you there');
my $f = $c->read_frame;
ok $f && $f->{opcode} == 10 && $f->{payload} eq 'are you there', 'ping through the proxy gets the pong'
    or diag explain $f;
$c->send_frame(opcode => 8, payload => close_payload(4000, 'done'));
$c->close_ok(4000, 'close 4000 comes back through the proxy, then EOF');

# Protocol errors from the client are answered by the back, through the proxy.
$c = $t->ws_connect('/echo');
$c->send_frame(opcode => 1, payload => "\xC3\x28");
$c->close_ok(1007, 'invalid UTF-8 through the proxy gets 1007');

# A request without the upgrade headers reaches the back as plain HTTP and
# its refusal comes back through the front.
my $r = $t->http("GET /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
is $r->{status}, 400, 'GET /echo without Upgrade: the back\'s 400 comes through';
$r = $t->http("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
is $r->{status}, 200, 'the front serves the demo page';
like $r->{body}, qr/ngx-websocket echo/, '... which is the demo page';

# The Python client through the front.
($rc, $out) = $t->run_cmd($python, '-c', 'import websockets');
is $rc, 0, 'Python websockets library is importable' or diag $out;
($rc, $out) = $t->run_cmd($python, "$FindBin::Bin/python/roundtrip.py", $front, '/echo');
is $rc, 0, 'roundtrip.py through the proxy exits 0' or diag $out;
like $out, qr/^OK roundtrip: \d+ messages, ping answered, close 1000$/m,
    'roundtrip.py through the proxy reports success' or diag $out;

# Both servers logged each of the three WebSocket connections so far with
# 101: the front as a proxied request, the back as its own.
my $count = 0;
$t->wait_for_log(sub {
    $count = grep { /"GET \/echo HTTP\/1\.1" 101 / } split /\n/, $t->access_log;
    $count >= 6;
}, log => 'access');
is $count, 6, 'access log has a 101 from the front and one from the back for each connection'
    or diag $t->access_log;

# Reload with a client connected through the proxy: the back's exiting
# worker closes with 1001, the proxy relays it and ends the tunnel, and the
# old worker exits without waiting for worker_shutdown_timeout.
$c = $t->ws_connect('/echo');
$c->echo_ok(1, 'before reload', 'connected through the proxy before the reload');
my @old = $t->worker_pids;
my $start = time;
kill 'HUP', $t->master_pid;
my $cl = $c->expect_close(timeout => 8);
is $cl->{code}, 1001, 'reload: the client gets 1001 through the proxy' or diag explain $cl;
is $cl->{reason}, 'server shutting down', '... with the reason';
ok $cl->{eof}, '... and the tunnel is closed';
my $gone = 0;
while (time < $start + 8) { last if $gone = !grep { kill 0, $_ } @old; sleep 0.05 }
ok $gone, sprintf 'the old worker exits (%.1f s, worker_shutdown_timeout is 10 s)', time - $start;
$c = $t->ws_connect('/echo');
$c->echo_ok(1, 'after reload', 'the new worker serves through the proxy');
$c->close;
$t->stop;

# proxy_read_timeout vs websocket_timeout, scaled down from 120 s / 60 s to
# 2 s / 0.7 s: an idle client that answers the back's pings stays connected
# through the proxy beyond proxy_read_timeout.
my $text = WsTest::_slurp("$WsTest::ROOT/$file");
ok $text =~ s/proxy_read_timeout 120s;/proxy_read_timeout 2s;/
    && $text =~ s/websocket_timeout 60s;/websocket_timeout 700ms;/,
    "$file has proxy_read_timeout 120s and websocket_timeout 60s (scaled down here)";
my $t2 = WsTest->new;
$t2->write_config($text);
$t2->run;
$c = $t2->ws_connect('/echo');
my $idle_start = time;
my ($pings, $eof) = (0, 0);
while (time < $idle_start + 3.5) {
    my $p = $c->read_frame(timeout => 0.5) or next;
    if ($p->{eof}) { $eof = 1; last }
    next unless $p->{opcode} == 9;
    $pings++;
    $c->send_frame(opcode => 10, payload => $p->{payload});
}
cmp_ok $pings, '>=', 3, "$pings idle pings arrived through the proxy and were answered";
ok !$eof, 'the tunnel stayed open for 3.5 s idle';
$c->echo_ok(1, 'still here', 'after 3.5 s idle (proxy_read_timeout 2 s) the tunnel still echoes');
$c->close;
$t2->stop;

done_testing;
