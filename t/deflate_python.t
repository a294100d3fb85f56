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

my $t = WsTest->new;
$t->write_config(WsTest::deflate_config(server => <<'EOF'));
        server_name localhost;
        websocket_max_payload_len 2m;

        location / {
            return 200 "plain";
        }
EOF
$t->run;

my $s = WsTest::deflate_strings();
my ($D, $NCT, $W9, $default) = @{$s}{qw(D NCT W9 offer)};
# The answers to websockets' default offer ('-' where there is none).
my %A = map { ($_ => $s->{answer}{$_} eq '' ? '-' : $s->{answer}{$_}) } keys %{ $s->{answer} };

# The offers of deflate.py (its OFFERS: connect()'s arguments), as
# websockets must send them.
my %offer = (
    default  => $default,
    none     => undef,
    bits9    => "$D; $W9",
    bits12   => "$D; server_max_window_bits=12; client_max_window_bits=11",
    nct      => "$D; $NCT; client_max_window_bits",
    snct     => "$D; server_no_context_takeover; client_max_window_bits",
    cnct     => "$D; client_no_context_takeover; client_max_window_bits",
    bare     => $D,
    smwb8    => "$D; server_max_window_bits=8; client_max_window_bits",
    fallback => "$D; server_max_window_bits=8; client_max_window_bits, $default",
);

# Each case of deflate.py: the offer and the answer it must get ('-': no
# Sec-WebSocket-Extensions, no extension).
my @cases = (
    ['d15-default'       => '/d15', default => $A{d15}],
    ['d15-none'          => '/d15', none => '-'],
    ['d15-bits9'         => '/d15', bits9 => "$D; $NCT; $W9"],
    ['d15-bits12'        => '/d15', bits12 => "$D; $NCT; server_max_window_bits=12; client_max_window_bits=11"],
    ['d15-nct'           => '/d15', nct => "$D; $NCT"],
    ['d15-bare'          => '/d15', bare => "$D; $NCT"],
    ['d15-smwb8'         => '/d15', smwb8 => '-'],
    ['d15-fallback'      => '/d15', fallback => "$D; $NCT"],
    ['d9-default'        => '/d9', default => $A{d9}],
    ['d9-bits12'         => '/d9', bits12 => "$D; $NCT; $W9"],
    ['d9-bare'           => '/d9', bare => "$D; $NCT; server_max_window_bits=9"],
    ['takeover-default'  => '/takeover', default => $A{takeover}],
    ['takeover-bits9'    => '/takeover', bits9 => "$D; $W9"],
    ['takeover-nct'      => '/takeover', nct => "$D; $NCT"],
    ['takeover-snct'     => '/takeover', snct => "$D; server_no_context_takeover"],
    ['takeover-cnct'     => '/takeover', cnct => "$D; client_no_context_takeover"],
    ['takeover9-default' => '/takeover9', default => $A{takeover9}],
    ['takeover9-nct'     => '/takeover9', nct => "$D; $NCT; $W9"],
    ['takeover9-bare'    => '/takeover9', bare => "$D; server_max_window_bits=9"],
    ['plain-default'     => '/plain', default => $A{plain}],
);

# deflate.py gets the cases as JSON: { name, path, offer (its OFFERS key),
# sent (the request's Sec-WebSocket-Extensions, null for none), want (the
# 101's, null for none) }.
my $json = JSON::PP->new->canonical->encode([map {
    my ($name, $path, $key, $answer) = @$_;
    { name => $name, path => $path, offer => $key, sent => $offer{$key},
      want => $answer eq '-' ? undef : $answer }
} @cases]);
my $out = $t->run_python('deflate.py', 20, $t->port, $json);

for my $c (@cases) {
    my ($name, $path, $key, $answer) = @$c;
    my $offer = $offer{$key} // '(no offer: compression=None)';
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
