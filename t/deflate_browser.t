# permessage-deflate (RFC 7692) as a real browser meets it: Debian's headless
# Chromium, driven by playwright-core (t/browser/deflate.js), loads
# t/browser/probe.html from this test's nginx and opens a WebSocket from it
# to each of these websocket_echo locations (Chromium offers
# `permessage-deflate; client_max_window_bits` itself):
#   /d15        websocket_deflate on, every other setting at its default
#   /d9         websocket_deflate_server/client_max_window_bits 9
#   /takeover   websocket_deflate_server/client_context_takeover on
#   /takeover9  both takeovers on and both window bits 9
#   /plain      no websocket_deflate
# Checked for each:
#   - the Sec-WebSocket-Extensions Chromium sent (read through the DevTools
#     protocol) is that offer, and the one it got back, and ws.extensions,
#     are exactly the spec's answer for the location (none for /plain);
#   - text (below websocket_deflate_min_length 64, 63/64 B, 512 B JSON-like,
#     16 KiB, multi-byte UTF-8, 200000 B) and binary (16 B, 16 KiB random,
#     16 KiB of repeated 1 KiB blocks, 200000 B random) messages and the same
#     200 random bytes twice echo, each matched by the page (Chromium
#     compresses what it sends and fails the connection on a bad compressed
#     frame from the server), then close 1000, clean;
#   - the access log has $websocket_extensions of each connection.
#
# Needs node, /usr/bin/chromium and t/browser/node_modules (scripts/lib.sh
# ensure_browser_deps).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use WsTest;

binmode Test::More->builder->$_, ":encoding(UTF-8)" for qw(output failure_output todo_output);

WsTest::browser_prereqs();

my $t = WsTest->start(WsTest::deflate_config(server => WsTest::probe_page_locations()));

my $port = $t->port;
my $page = "http://127.0.0.1:$port/probe.html";
my $ws   = "ws://127.0.0.1:$port";

# The messages every connection echoes, in this order (probe.html makes
# them: fill, size, seed).
my @plan = (
    { name => 'text-small',    fill => 'literal', text => "hi \x{2713}" },
    { name => 'text-63',       fill => 'words',  size => 63 },
    { name => 'text-64',       fill => 'words',  size => 64 },
    { name => 'json-512',      fill => 'json',   size => 512 },
    { name => 'text-16k',      fill => 'words',  size => 16384, seed => 1 },
    { name => 'text-utf8',     fill => 'utf8',   size => 1000 },
    { name => 'text-200000',   fill => 'words',  size => 200000, seed => 2 },
    { name => 'binary-16',     fill => 'random', size => 16, seed => 3 },
    { name => 'binary-16k',    fill => 'random', size => 16384, seed => 4 },
    { name => 'blocks-16k',    fill => 'blocks', size => 16384, seed => 5 },
    { name => 'binary-200000', fill => 'random', size => 200000, seed => 6 },
    { name => 'repeat-1',      fill => 'random', size => 200, seed => 7 },
    { name => 'repeat-2',      fill => 'random', size => 200, seed => 7 },
);
# What the page writes for each echo that matches (text sizes in UTF-16
# code units, as JavaScript counts them).
my %echo = (
    'text-small'    => 'text, 4 chars',
    'text-63'       => 'text, 63 chars',
    'text-64'       => 'text, 64 chars',
    'json-512'      => 'text, 512 chars',
    'text-16k'      => 'text, 16384 chars',
    'text-utf8'     => 'text, 11000 chars',
    'text-200000'   => 'text, 200000 chars',
    'binary-16'     => 'binary, 16 bytes',
    'binary-16k'    => 'binary, 16384 bytes',
    'blocks-16k'    => 'binary, 16384 bytes',
    'binary-200000' => 'binary, 200000 bytes',
    'repeat-1'      => 'binary, 200 bytes',
    'repeat-2'      => 'binary, 200 bytes',
);

my $s = WsTest::deflate_strings();
my $OFFER = $s->{offer};

# Each case: the endpoint (?case= names it in the access log) and the
# answer to Chromium's offer ('' for none).
my @cases = map { { name => $_, ws => "$ws/$_?case=$_", answer => $s->{answer}{$_} } }
    qw(d15 d9 takeover takeover9 plain);
my @run = map { { name => $_->{name}, page => $page, ws => $_->{ws}, plan => \@plan } } @cases;

my $reports = $t->run_probes('deflate.js', \@run);

for my $c (@cases) {
    my ($name, $answer) = @$c{qw(name answer)};
    WsTest::probe_ok($reports, $name, sub {
        my ($r, $result, $console) = @_;
        is $r->{offered}, $OFFER, "$name: Chromium offered '$OFFER'";
        ok exists $r->{answered}, "$name: Chromium saw the 101";
        is $r->{answered}, ($answer eq '' ? undef : $answer),
            "$name: the 101's Sec-WebSocket-Extensions is " . ($answer eq '' ? 'absent' : "'$answer'");
        like $result, qr/^open extensions="\Q$answer\E" protocol=""$/m,
            qq{$name: it opens, ws.extensions is "$answer"};
        for my $m (@plan) {
            like $result, qr/^echo \Q$m->{name}\E: \Q$echo{$m->{name}}\E, match$/m,
                "$name: $m->{name} echoes, matched ($echo{$m->{name}})";
        }
        unlike $result, qr/MISMATCH|^unexpected message/m, "$name: no mismatch, nothing unexpected";
        like $result, qr/^close code=1000 clean=true /m, "$name: the page closes it cleanly with 1000";
        unlike $result, qr/^(?:error|timeout)$/m, "$name: no error event, no timeout";
        unlike $console, qr/^error/m, "$name: no console error";
    });
}

# The server's side: $websocket_extensions (the answer, or -) in the line
# of each connection, written when it ended; the page closed each one.
my %want = map {
    ($_->{name} => { status => 101, extensions => $_->{answer} eq '' ? '-' : $_->{answer},
                     closed_by => 'client' })
} @cases;
$t->access_log_cases(\%want, map { $_->{name} } @cases);

$t->stop;
done_testing;
