# permessage-deflate (RFC 7692) with an independent, strict client: the
# Python `websockets` library (t/python/deflate.py), which offers
# `permessage-deflate; client_max_window_bits` by default
# (compression="deflate"), checks the server's answer against its offer,
# validates RSV1 and inflates every compressed message itself. One nginx,
# websocket_echo locations with `websocket_max_payload_len 2m`:
#   /d15        websocket_deflate on, every other setting at its default
#   /d9         websocket_deflate_server/client_max_window_bits 9
#   /takeover   websocket_deflate_server/client_context_takeover on
#   /takeover9  both takeovers on and both window bits 9
#   /plain      no websocket_deflate
# deflate.py connects to them with websockets' default offer and with
# explicit ClientPerMessageDeflateFactory offers (window bits 9 or 12/11,
# no_context_takeover either way, no client_max_window_bits,
# server_max_window_bits=8 alone and followed by a default offer, no offer
# at all). For each connection two assertions here:
#   - header: the 101's Sec-WebSocket-Extensions is exactly the spec's
#     answer for that location and offer (or absent), and websockets'
#     PerMessageDeflate extension is active (or the extension list empty);
#   - echo: text/binary of 0 B to 1 MiB, JSON-like 512 B, multi-byte UTF-8,
#     a message sent uncompressed, fragmented messages (lists, an async
#     iterator), the same 200 random bytes twice, a ping and close 1000;
#     every echo equal, RSV1 on the first frame of an echo exactly when it
#     is >= 64 bytes (websocket_deflate_min_length), each compressed echo
#     inflated again with a raw inflater of the negotiated server window in
#     small steps (so a back-reference beyond the window fails), a fresh one
#     per message unless the server keeps its context, and then the repeated
#     200 bytes must come back much smaller the second time.
# The access log has $websocket_extensions of each connection (?case=NAME).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use WsTest;

my $python = $ENV{TEST_NGINX_PYTHON} // 'python3';

my $t = WsTest->new;
$t->write_config(<<'EOF');
%%TEST_GLOBALS%%
events { worker_connections 1024; }
http {
    %%TEST_GLOBALS_HTTP%%
    log_format deflate 'case=$arg_case status=$status extensions="$websocket_extensions" '
                       'closed_by=$websocket_closed_by';

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name localhost;
        access_log %%PREFIX%%/logs/access.log deflate;

        websocket_max_payload_len 2m;

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
        location / {
            return 200 "plain";
        }
    }
}
EOF
$t->run;

# Not a skip: without the library this file cannot vouch for anything.
my ($rc, $out) = $t->run_cmd($python, '-c', 'import websockets; print(websockets.__version__)');
is $rc, 0, 'Python websockets library is importable' or diag $out;
chomp(my $version = $out);
note "websockets $version";

($rc, $out) = $t->run_cmd($python, "$FindBin::Bin/python/deflate.py", $t->port);
is $rc, 0, 'deflate.py exits 0' or diag $out;
note $out;
like $out, qr/^DONE 20 cases$/m, 'deflate.py ran all its cases' or diag $out;

my $D   = 'permessage-deflate';
my $NCT = 'server_no_context_takeover; client_no_context_takeover';
my $W9  = 'server_max_window_bits=9; client_max_window_bits=9';
my $default = "$D; client_max_window_bits";

# Each case of deflate.py: the offer (as websockets sends it) and the
# answer it must get ('-': no Sec-WebSocket-Extensions, no extension).
my @cases = (
    ['d15-default'       => '/d15', $default, "$D; $NCT"],
    ['d15-none'          => '/d15', '(no offer: compression=None)', '-'],
    ['d15-bits9'         => '/d15', "$D; $W9", "$D; $NCT; $W9"],
    ['d15-bits12'        => '/d15', "$D; server_max_window_bits=12; client_max_window_bits=11",
                            "$D; $NCT; server_max_window_bits=12; client_max_window_bits=11"],
    ['d15-nct'           => '/d15', "$D; $NCT; client_max_window_bits", "$D; $NCT"],
    ['d15-bare'          => '/d15', $D, "$D; $NCT"],
    ['d15-smwb8'         => '/d15', "$D; server_max_window_bits=8; client_max_window_bits", '-'],
    ['d15-fallback'      => '/d15', "$D; server_max_window_bits=8; client_max_window_bits, $default",
                            "$D; $NCT"],
    ['d9-default'        => '/d9', $default, "$D; $NCT; $W9"],
    ['d9-bits12'         => '/d9', "$D; server_max_window_bits=12; client_max_window_bits=11",
                            "$D; $NCT; $W9"],
    ['d9-bare'           => '/d9', $D, "$D; $NCT; server_max_window_bits=9"],
    ['takeover-default'  => '/takeover', $default, $D],
    ['takeover-bits9'    => '/takeover', "$D; $W9", "$D; $W9"],
    ['takeover-nct'      => '/takeover', "$D; $NCT; client_max_window_bits", "$D; $NCT"],
    ['takeover-snct'     => '/takeover', "$D; server_no_context_takeover; client_max_window_bits",
                            "$D; server_no_context_takeover"],
    ['takeover-cnct'     => '/takeover', "$D; client_no_context_takeover; client_max_window_bits",
                            "$D; client_no_context_takeover"],
    ['takeover9-default' => '/takeover9', $default, "$D; $W9"],
    ['takeover9-nct'     => '/takeover9', "$D; $NCT; client_max_window_bits", "$D; $NCT; $W9"],
    ['takeover9-bare'    => '/takeover9', $D, "$D; server_max_window_bits=9"],
    ['plain-default'     => '/plain', $default, '-'],
);
for my $c (@cases) {
    my ($name, $path, $offer, $answer) = @$c;
    my ($line) = $out =~ /^((?:OK|FAIL) \Q$name\E header: .*)$/m;
    like $line // '(no line)', qr/^OK /,
        "$name: $path offered '$offer' answers " . ($answer eq '-' ? 'without Sec-WebSocket-Extensions'
            : "'$answer'") . ', websockets ' . ($answer eq '-' ? 'has no extension' : 'has PerMessageDeflate')
        or diag $line // $out;
    ($line) = $out =~ /^((?:OK|FAIL) \Q$name\E echo: .*)$/m;
    like $line // '(no line)', qr/^OK /,
        "$name: every message echoes equal" . ($answer eq '-' ? '' : ', RSV1 from 64 bytes, strict inflate')
        . ', close 1000'
        or diag $line // $out;
}

# The server's side: $websocket_extensions (the answer, or -) in the line
# of each connection, written when it ended; websockets closed each one.
my %want = map {
    my ($name, undef, undef, $answer) = @$_;
    ($name => { status => 101, extensions => $answer, closed_by => 'client' })
} @cases;
$t->access_log_cases(\%want, map { $_->[0] } @cases);

$t->stop;
done_testing;
