# Subprotocols and the Origin allow-list as a real browser meets them:
# Debian's headless Chromium, driven by playwright-core (t/browser/policy.js),
# loads t/browser/probe.html from one of two origins served by this test's
# nginx and opens a WebSocket from it (new WebSocket(url, protocols)), then
# reports what the page saw, read from its DOM.
#
# The endpoints on PORT have `websocket_protocols chat.v2 chat` and
# `websocket_origins http://127.0.0.1:PORT`; /chat-required also has
# `websocket_require_protocol on`. PORT2 serves only the page: a foreign
# origin. Checked:
#   - the page from PORT offering ["chat", "chat.v2"] opens with ws.protocol
#     "chat.v2" (the server's order wins over the browser's) and echoes;
#   - offering nothing, /chat opens with ws.protocol "" and echoes;
#   - offering ["superchat"], /chat answers 101 without a subprotocol, and
#     the browser fails that connection itself (the WHATWG WebSocket
#     standard: a client that offered subprotocols fails a 101 that selects
#     none), so it never opens;
#   - /chat-required refuses ["superchat"] and no offer with 400 (never
#     opens, error, close 1006), and opens for ["chat"] with "chat";
#   - the page from PORT2 never opens /chat (error, close 1006, Chromium
#     names the 403) and the error log has the 403 naming its origin;
#   - the access log (a log_format of this file) has $websocket_protocol and
#     $websocket_closed_by of each connection, the status of each refusal
#     and the Origin sent.
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

# The WebSocket endpoints and the page on the allowed origin (PORT); a
# foreign origin (PORT2): the same page, no endpoint.
my $t = WsTest->start(WsTest::cases_config(policy => 'origin="$http_origin" '
        . 'offered="$http_sec_websocket_protocol" protocol="$websocket_protocol" closed_by=$websocket_closed_by',
    <<'EOF' . WsTest::probe_page_locations(), WsTest::probe_page_locations()));
        location = /chat {
            websocket_echo;
            websocket_protocols chat.v2 chat;
            websocket_origins http://127.0.0.1:%%PORT%%;
        }
        location = /chat-required {
            websocket_echo;
            websocket_protocols chat.v2 chat;
            websocket_origins http://127.0.0.1:%%PORT%%;
            websocket_require_protocol on;
        }
EOF

my ($port, $port2) = ($t->port, $t->port2);
my $own     = "http://127.0.0.1:$port";
my $foreign = "http://127.0.0.1:$port2";
my $ws      = "ws://127.0.0.1:$port";
my $text    = "hello chat \x{2713}";

# Each case: the page's origin, the endpoint (?case= names it in the
# access log), the subprotocols offered.
my @cases = (
    { name => 'prefer',       page => "$own/probe.html",     ws => "$ws/chat?case=prefer",
      protocols => ['chat', 'chat.v2'] },
    { name => 'no-offer',     page => "$own/probe.html",     ws => "$ws/chat?case=no-offer",
      protocols => [] },
    { name => 'superchat',    page => "$own/probe.html",     ws => "$ws/chat?case=superchat",
      protocols => ['superchat'] },
    { name => 'require-ok',   page => "$own/probe.html",     ws => "$ws/chat-required?case=require-ok",
      protocols => ['chat'] },
    { name => 'require-superchat', page => "$own/probe.html", ws => "$ws/chat-required?case=require-superchat",
      protocols => ['superchat'] },
    { name => 'require-no-offer',  page => "$own/probe.html", ws => "$ws/chat-required?case=require-no-offer",
      protocols => [] },
    { name => 'foreign',      page => "$foreign/probe.html", ws => "$ws/chat?case=foreign",
      protocols => ['chat', 'chat.v2'] },
);
$_->{text} = $text for @cases;

my $reports = $t->run_probes('policy.js', \@cases);

# Runs the assertions on one case's page report (WsTest::probe_ok: the page
# ran the probe, it finished, then $checks); shows the report if any of
# them failed.
sub case_ok { WsTest::probe_ok($reports, @_) }

# A connection the page saw open, echo one message, and close cleanly.
sub opened_ok {
    my ($name, $protocol, $result, $console) = @_;
    like $result, qr/^open protocol="\Q$protocol\E"$/m, qq{$name: it opens, ws.protocol is "$protocol"};
    like $result, qr/^message "\Q$text\E"$/m, "$name: the text message echoes";
    like $result, qr/^close code=1000 clean=true /m, "$name: the page closes it cleanly with 1000";
    unlike $result, qr/^(?:error|timeout)$/m, "$name: no error event";
    unlike $console, qr/^error/m, "$name: no console error";
}

# A connection that must never open: the page sees only an error and 1006,
# and Chromium's console message says why ($why).
sub failed_ok {
    my ($name, $why, $result, $console) = @_;
    unlike $result, qr/^open /m, "$name: it never opens";
    like $result, qr/^error\nclose code=1006 clean=false /m, "$name: an error event, then close 1006, not clean";
    like $console, qr/^error: WebSocket connection to '\Q$ws\E[^']*' failed: .*\Q$why\E/m,
        "$name: Chromium says: $why";
}

case_ok(prefer => sub {
    my ($r, $res, $con) = @_;
    is $r->{origin}, $own, 'prefer: the page is on the allowed origin';
    # Offered ["chat", "chat.v2"]: the server's order wins.
    opened_ok('prefer', 'chat.v2', $res, $con);
});
case_ok('no-offer' => sub { opened_ok('no-offer', '', $_[1], $_[2]) });
case_ok(superchat => sub {
    failed_ok('superchat', "Sent non-empty 'Sec-WebSocket-Protocol' header but no response was received",
        $_[1], $_[2]);
});
case_ok('require-ok' => sub { opened_ok('require-ok', 'chat', $_[1], $_[2]) });
case_ok('require-superchat' => sub { failed_ok('require-superchat', 'Unexpected response code: 400', $_[1], $_[2]) });
case_ok('require-no-offer' => sub { failed_ok('require-no-offer', 'Unexpected response code: 400', $_[1], $_[2]) });
case_ok(foreign => sub {
    my ($r, $res, $con) = @_;
    is $r->{origin}, $foreign, 'foreign: the page is on the other origin';
    failed_ok('foreign', 'Unexpected response code: 403', $res, $con);
});

# The server's side.
my $refused = qr/\[info\] .*websocket: upgrade refused with 403: origin "\Q$foreign\E" is not in websocket_origins/;
ok $t->wait_for_log($refused), "the error log has the 403 naming origin $foreign, at info";
is $t->count_log(qr/upgrade refused with 403/), 1, 'no other request was refused for its origin';
is $t->count_log(qr/upgrade refused with 400: no subprotocol of websocket_protocols offered/), 2,
    'the error log has the 400 of both refused /chat-required requests';

# The access log line of a WebSocket is written when it ends; the page
# closed each one it opened ($websocket_closed_by "client"). The superchat
# one was answered with 101 (without a subprotocol) and failed by the
# browser, which dropped the TCP connection without a close frame. The
# request headers are still there for the log of a refusal: Chromium offers
# the subprotocols in the page's order (for a WebSocket the module keeps
# only a few headers for its log line, not this one).
my %want = (
    prefer              => { status => 101, origin => $own, protocol => 'chat.v2', closed_by => 'client' },
    'no-offer'          => { status => 101, origin => $own, protocol => '-', closed_by => 'client' },
    superchat           => { status => 101, origin => $own, protocol => '-', closed_by => 'dropped' },
    'require-ok'        => { status => 101, origin => $own, protocol => 'chat', closed_by => 'client' },
    'require-superchat' => { status => 400, origin => $own, protocol => '-', offered => 'superchat' },
    'require-no-offer'  => { status => 400, origin => $own, protocol => '-', offered => '-' },
    foreign             => { status => 403, origin => $foreign, protocol => '-', offered => 'chat, chat.v2' },
);
$t->access_log_cases(\%want, map { $_->{name} } @cases);

$t->stop;
done_testing;
