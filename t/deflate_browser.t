# permessage-deflate (RFC 7692) as a real browser meets it: Debian's headless
# Chromium, driven by playwright-core (t/browser/deflate.js), loads
# t/browser/deflate.html from this test's nginx and opens a WebSocket from it
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

my ($dir, $chromium) = WsTest::browser_prereqs();

my $config = <<'EOF';
%%TEST_GLOBALS%%
events { worker_connections 1024; }
http {
    %%TEST_GLOBALS_HTTP%%
    log_format deflate 'case=$arg_case status=$status extensions="$websocket_extensions" '
                       'closed_by=$websocket_closed_by';

    server {
        listen 127.0.0.1:%%PORT%%;
        access_log %%PREFIX%%/logs/access.log deflate;

        location = /d15 {
            websocket_echo;
            websocket_deflate on;
        }
        location = /d9 {
            websocket_echo;
            websocket_deflate on;
            websocket_deflate_server_max_window_bits 9;
            websocket_deflate_client_max_window_bits 9;
        }
        location = /takeover {
            websocket_echo;
            websocket_deflate on;
            websocket_deflate_server_context_takeover on;
            websocket_deflate_client_context_takeover on;
        }
        location = /takeover9 {
            websocket_echo;
            websocket_deflate on;
            websocket_deflate_server_context_takeover on;
            websocket_deflate_client_context_takeover on;
            websocket_deflate_server_max_window_bits 9;
            websocket_deflate_client_max_window_bits 9;
        }
        location = /plain {
            websocket_echo;
        }
        location = /deflate.html {
            alias "@PAGE@";
        }
        location / {
            return 404;
        }
    }
}
EOF
# @PAGE@: the probe page.
$config =~ s/\@PAGE\@/$dir\/deflate.html/g;

my $t = WsTest->new;
$t->write_config($config);
$t->run;

my $port = $t->port;
my $page = "http://127.0.0.1:$port/deflate.html";
my $ws   = "ws://127.0.0.1:$port";

# The messages every connection echoes, in this order (deflate.html makes
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

my $D   = 'permessage-deflate';
my $NCT = 'server_no_context_takeover; client_no_context_takeover';
my $W9  = 'server_max_window_bits=9; client_max_window_bits=9';
my $OFFER = "$D; client_max_window_bits";

# Each case: the endpoint (?case= names it in the access log) and the
# answer to Chromium's offer ('' for none).
my @cases = (
    { name => 'd15',       ws => "$ws/d15?case=d15",             answer => "$D; $NCT" },
    { name => 'd9',        ws => "$ws/d9?case=d9",               answer => "$D; $NCT; $W9" },
    { name => 'takeover',  ws => "$ws/takeover?case=takeover",   answer => $D },
    { name => 'takeover9', ws => "$ws/takeover9?case=takeover9", answer => "$D; $W9" },
    { name => 'plain',     ws => "$ws/plain?case=plain",         answer => '' },
);
my @run = map { { name => $_->{name}, page => $page, ws => $_->{ws}, plan => \@plan } } @cases;

my (undef, @results) = $t->run_browser('deflate.js', JSON::PP->new->utf8->encode(\@run));
my %r = map { ($_->{name} // '') => $_ } @results;
note sprintf '%s: %d ms', $_->{name}, $_->{ms} // -1 for grep { $_->{name} } @results;

for my $c (@cases) {
    my $name = $c->{name};
    my $r = $r{$name} // { errors => ['no result'] };
    my $failed = grep { !$_ } Test::More->builder->summary;
    my $result = $r->{result} // '';
    my $console = join "\n", @{ $r->{console} // [] };
    my $answer = $c->{answer};

    is_deeply $r->{errors}, [], "$name: the page ran the probe";
    is $r->{status}, 'done', "$name: the probe finished (saw the close event)";
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
    diag "$name: what the page reported:\n", explain $r
        if grep({ !$_ } Test::More->builder->summary) > $failed;
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
