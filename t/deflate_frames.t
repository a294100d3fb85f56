# permessage-deflate frames (RFC 7692) after negotiation, with a client
# that compresses with Compress::Raw::Zlib (raw deflate, sync flush, the
# trailing 00 00 ff ff removed) and inflates what the server sends (the 4
# bytes appended): compressed text and binary echoes from 0 B to 3 MiB (one
# frame and 48 fragments), RSV1 on the first frame of a compressed echo only,
# websocket_deflate_min_length deciding whether the echo is compressed
# (whatever way the message came), compressed messages fragmented over 3
# frames, context takeover on both sides (one deflater and one inflater for
# the whole connection), server_max_window_bits 9 (the echo inflates with a
# 9-bit window), pings inside a fragmented compressed message, and every
# error: RSV1 on control frames, on continuations or without negotiation
# (1002), corrupt data and invalid UTF-8 after inflation (1007), inflated
# size over websocket_max_payload_len or websocket_max_message_len (1009),
# each with its info line in the error log.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use WsTest qw(ws_frame close_payload);
use WsDeflate qw(deflater inflater compress_part compress_msg inflate_msg);

my $t = WsTest->new;
$t->write_config(WsTest::echo_config(
    # /ws: defaults (min_length 64, no context takeover, 15-bit windows).
    location => 'websocket_deflate on; websocket_max_payload_len 4m;',
    server   => <<'EOF',
        location /nodeflate { websocket_echo; }
        location /min0 { websocket_echo; websocket_deflate on; websocket_deflate_min_length 0; }
        location /min1k { websocket_echo; websocket_deflate on; websocket_deflate_min_length 1k; }
        location /ctx {
            websocket_echo;
            websocket_deflate on;
            websocket_deflate_server_context_takeover on;
            websocket_deflate_client_context_takeover on;
        }
        location /w9 { websocket_echo; websocket_deflate on; websocket_deflate_server_max_window_bits 9; }
        location /limits {
            websocket_echo;
            websocket_deflate on;
            websocket_max_payload_len 1k;
            websocket_max_message_len 4k;
        }
        location /level9 {
            websocket_echo;
            websocket_deflate on;
            websocket_deflate_level 9;
            websocket_deflate_mem_level 9;
        }
        location /quiet {
            websocket_echo;
            websocket_deflate on;
            websocket_ping_interval 1s;
            websocket_timeout 10s;
        }
        location /level1 {
            websocket_echo;
            websocket_deflate on;
            websocket_deflate_level 1;
            websocket_deflate_mem_level 1;
        }
EOF
));
$t->run;

my $P   = 'permessage-deflate';
my $NCT = "$P; server_no_context_takeover; client_no_context_takeover";
my $errlog = $t->prefix . '/logs/error.log';

### client-side deflate ####################################################

# deflater, inflater, compress_part, compress_msg, inflate_msg: t/lib/WsDeflate.pm.

sub letters { my $n = shift; join '', map { chr(0x61 + ($_ * 7 + int($_ / 26)) % 26) } 0 .. $n - 1 }
sub random_bytes { my $n = shift; substr(pack('N*', map { int rand 2**32 } 0 .. $n / 4), 0, $n) }
sub random_letters { my $n = shift; join '', map { chr(0x61 + int rand 26) } 1 .. $n }

### reading ################################################################

# Frames of one data message as a message: { opcode, rsv (first frame's),
# later_rsv (OR of the continuations'), payload (as sent), frames, masked, bad }.
sub assemble {
    my (@frames) = @_;
    return undef unless @frames;
    my $m = { opcode => $frames[0]{opcode}, rsv => $frames[0]{rsv}, later_rsv => 0, payload => '',
              frames => scalar @frames, masked => 0, bad => [] };
    push @{ $m->{bad} }, "message starts with opcode $m->{opcode}" unless $m->{opcode} == 1 || $m->{opcode} == 2;
    for my $k (0 .. $#frames) {
        my $f = $frames[$k];
        push @{ $m->{bad} }, "opcode $f->{opcode} inside the message" if $k && $f->{opcode} != 0;
        push @{ $m->{bad} }, 'FIN before the last frame' if $f->{fin} && $k != $#frames;
        $m->{later_rsv} |= $f->{rsv} if $k;
        $m->{masked} ||= $f->{masked};
        $m->{payload} .= $f->{payload};
    }
    push @{ $m->{bad} }, 'no FIN on the last frame' unless $frames[-1]{fin};
    return $m;
}

# The next data message; pings/pongs meanwhile go to $m->{control}. A close
# frame or EOF first is returned as is; { timeout => 1 } at the deadline.
sub read_msg {
    my ($c, %o) = @_;
    my $deadline = time + ($o{timeout} // 10);
    my (@frames, @control);
    while (1) {
        my $f = $c->read_frame(timeout => $deadline - time);
        return { timeout => 1, control => \@control } unless $f;
        return { %$f, control => \@control } if $f->{eof} || $f->{opcode} == 8;
        if ($f->{opcode} == 9 || $f->{opcode} == 10) { push @control, $f; next }
        push @frames, $f;
        if ($f->{fin}) { my $m = assemble(@frames); $m->{control} = \@control; return $m }
    }
}

# Assertion on an echo: opcode, unmasked, RSV1 on the first frame iff
# compressed => 1 (and never on continuations, never RSV2/RSV3), content
# (inflated with a fresh inflater, or the one given) equal to $want.
sub echo_is {
    my ($m, $opcode, $want, $name, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($message, @why) = WsTest::Conn::message_check($m, $opcode);
    if ($message) {
        push @why, @{ $m->{bad} };
        push @why, 'RSV2/RSV3 on the first frame' if $m->{rsv} & 3;
        push @why, "rsv $m->{later_rsv} on a continuation frame" if $m->{later_rsv};
        my $rsv1 = $m->{rsv} & 4 ? 1 : 0;
        push @why, 'not compressed (RSV1 clear), want compressed' if $o{compressed} && !$rsv1;
        push @why, 'compressed (RSV1 set), want uncompressed' if !$o{compressed} && $rsv1;
        my ($data, $err) = $rsv1 ? inflate_msg($m->{payload}, $o{inflater}, $o{bits}) : ($m->{payload});
        if (!defined $data) { push @why, "cannot inflate the echo: $err" }
        elsif ($data ne $want) {
            my $at = 0;
            $at++ while $at < length $data && $at < length $want && substr($data, $at, 1) eq substr($want, $at, 1);
            push @why, sprintf 'content differs: got %d bytes, want %d (first difference at %d)',
                length $data, length $want, $at;
        }
    }
    my $ok = ok(!@why, $name);
    diag(join '; ', @why) unless $ok;
    return $ok;
}

### connections ############################################################

# A WebSocket to $path offering $offer (default: Firefox's bare offer);
# asserts the answer ($want, default the no-context-takeover one; undef
# when nothing may be negotiated).
sub dconn {
    my ($path, $offer, $want) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $c = $t->ws_connect($path, defined $offer && $offer eq '' ? () : ('Sec-WebSocket-Extensions' => $offer // $P));
    my $got = $c->response->{headers}{'sec-websocket-extensions'};
    is $got, (@_ >= 3 ? $want : $NCT), "$path: negotiated " . ((@_ >= 3 ? $want : $NCT) // 'nothing');
    return $c;
}

# Sends $data as one compressed frame (RSV1).
sub send_z {
    my ($c, $opcode, $data, $d) = @_;
    return $c->send_frame(opcode => $opcode, rsv => 4, payload => compress_msg($data, $d), );
}

# The compressed bytes of $data split in $n parts as a fragmented message
# (RSV1 on the first frame only).
sub z_fragments {
    my ($opcode, $data, $n) = @_;
    my $z = compress_msg($data);
    my $step = int(length($z) / $n) + 1;
    my @parts = map { substr($z, $_ * $step, $step) } 0 .. $n - 1;
    return join '', map {
        ws_frame(opcode => $_ ? 0 : $opcode, rsv => $_ ? 0 : 4, fin => $_ == $n - 1 ? 1 : 0, payload => $parts[$_])
    } 0 .. $n - 1;
}

### sizes ####################################################################

{
    my $c = dconn('/ws');
    for my $size (0, 1, 63, 64, 1000, 100000) {
        my $z = $size >= 64;
        my $how = $z ? 'compressed' : 'uncompressed (under min_length 64)';
        my $text = letters($size);
        send_z($c, 1, $text);
        echo_is(read_msg($c), 1, $text, "compressed text of $size bytes: echo $how", compressed => $z);
        my $bin = random_bytes($size);
        send_z($c, 2, $bin);
        echo_is(read_msg($c), 2, $bin, "compressed binary of $size bytes: echo $how", compressed => $z);
    }

    # Uncompressed messages: compressed on the way back from min_length on.
    for my $size (0, 63, 64, 1000, 100000) {
        my $z = $size >= 64;
        my $text = letters($size);
        $c->send_frame(opcode => 1, payload => $text);
        echo_is(read_msg($c), 1, $text, "uncompressed text of $size bytes: echo " . ($z ? 'compressed' : 'uncompressed'),
            compressed => $z);
        my $bin = random_bytes($size);
        $c->send_frame(opcode => 2, payload => $bin);
        echo_is(read_msg($c), 2, $bin, "uncompressed binary of $size bytes: echo " . ($z ? 'compressed' : 'uncompressed'),
            compressed => $z);
    }

    # Multi-byte UTF-8, compressed.
    my $utf8 = "gr\xC3\xBC\xC3\x9Fe \xE2\x82\xAC \xF0\x9F\x8E\x89 " x 20;
    send_z($c, 1, $utf8);
    echo_is(read_msg($c), 1, $utf8, 'compressed multi-byte UTF-8 text echoes', compressed => 1);

    # About 3 MiB (websocket_max_payload_len 4m here), streamed both ways.
    my $big = random_bytes(3 * 1024 * 1024 + 17);
    ok $c->send_raw(ws_frame(opcode => 2, rsv => 4, payload => compress_msg($big)), timeout => 30),
        'sent 3 MiB of random bytes compressed in one frame';
    echo_is(read_msg($c, timeout => 60), 2, $big, '3 MiB random binary in one compressed frame echoes', compressed => 1);
    my $bigtext = join '', map { random_letters(1 + int rand 8) . ' ' } 1 .. 500_000;
    $bigtext = substr($bigtext x 2, 0, 3 * 1024 * 1024);
    ok $c->send_raw(ws_frame(opcode => 1, rsv => 4, payload => compress_msg($bigtext)), timeout => 30),
        'sent 3 MiB of text compressed in one frame';
    echo_is(read_msg($c, timeout => 60), 1, $bigtext, '3 MiB text in one compressed frame echoes', compressed => 1);
    ok $c->send_raw(z_fragments(2, $big, 48), timeout => 30), 'sent 3 MiB compressed over 48 fragments';
    echo_is(read_msg($c, timeout => 60), 2, $big, '3 MiB compressed over 48 fragments echoes', compressed => 1);

    $c->send_frame(opcode => 8, payload => close_payload(1000));
    $c->close_ok(1000, 'clean close after the sizes');
    $c->close;
}

### min_length ###############################################################

{
    my $c = dconn('/min1k');
    for my $case ([1023, 0], [1024, 1], [5000, 1]) {
        my ($size, $z) = @$case;
        my $text = letters($size);
        send_z($c, 1, $text);
        echo_is(read_msg($c), 1, $text, "min_length 1k, $size bytes sent compressed: echo "
            . ($z ? 'compressed' : 'uncompressed'), compressed => $z);
        $c->send_frame(opcode => 2, payload => $text);
        echo_is(read_msg($c), 2, $text, "min_length 1k, $size bytes sent uncompressed: echo "
            . ($z ? 'compressed' : 'uncompressed'), compressed => $z);
    }
    $c->close;

    $c = dconn('/min0');
    for my $size (0, 1, 10) {
        my $text = letters($size);
        $c->send_frame(opcode => 1, payload => $text);
        echo_is(read_msg($c), 1, $text, "min_length 0, $size bytes sent uncompressed: echo compressed", compressed => 1);
        send_z($c, 2, $text);
        echo_is(read_msg($c), 2, $text, "min_length 0, $size bytes sent compressed: echo compressed", compressed => 1);
    }
    $c->close;
}

### fragmented compressed messages ###########################################

{
    my $c = dconn('/ws');
    my $text = letters(5000) . random_letters(3000);
    $c->send_raw(z_fragments(1, $text, 3));
    echo_is(read_msg($c), 1, $text, 'compressed text over 3 frames (RSV1 on the first): echoes compressed',
        compressed => 1);
    my $bin = random_bytes(20000);
    $c->send_raw(z_fragments(2, $bin, 3));
    echo_is(read_msg($c), 2, $bin, 'compressed binary over 3 frames echoes', compressed => 1);

    # Empty first and last fragments.
    my $z = compress_msg($text);
    $c->send_raw(ws_frame(opcode => 1, rsv => 4, fin => 0, payload => '')
        . ws_frame(opcode => 0, fin => 0, payload => $z)
        . ws_frame(opcode => 0, fin => 1, payload => ''));
    echo_is(read_msg($c), 1, $text, 'compressed text with empty first and last fragments echoes', compressed => 1);

    # A 3-byte UTF-8 character split across the inflated output of two
    # fragments (each compressed part ends in a sync flush).
    my $d = deflater();
    my ($s1, $s2) = ('x' x 100 . "\xE2\x82", "\xAC" . 'y' x 100);
    my $p1 = compress_part($d, $s1);
    my $p2 = compress_part($d, $s2);
    $p2 =~ s/\x00\x00\xff\xff\z//;
    $c->send_raw(ws_frame(opcode => 1, rsv => 4, fin => 0, payload => $p1)
        . ws_frame(opcode => 0, fin => 1, payload => $p2));
    echo_is(read_msg($c), 1, $s1 . $s2, 'a UTF-8 character split between two compressed fragments echoes',
        compressed => 1);

    # Uncompressed fragments over min_length: one compressed echo.
    $c->send_raw(ws_frame(opcode => 1, fin => 0, payload => 'a' x 40)
        . ws_frame(opcode => 0, fin => 0, payload => 'b' x 40)
        . ws_frame(opcode => 0, fin => 1, payload => 'c' x 40));
    echo_is(read_msg($c), 1, ('a' x 40) . ('b' x 40) . ('c' x 40),
        'uncompressed text over 3 frames (120 bytes): echoed compressed', compressed => 1);

    # Pings inside a fragmented compressed message: each answered at once,
    # before the message is finished.
    my $msg = letters(3000) . random_letters(2000);
    my $zz = compress_msg($msg);
    my $third = int(length($zz) / 3);
    my @frames = (ws_frame(opcode => 1, rsv => 4, fin => 0, payload => substr($zz, 0, $third)),
        ws_frame(opcode => 0, fin => 0, payload => substr($zz, $third, $third)),
        ws_frame(opcode => 0, fin => 1, payload => substr($zz, 2 * $third)));
    my (@data, @pongs, @other);
    my $wait_pong = sub {
        my $deadline = time + 5;
        while (my $f = $c->read_frame(timeout => $deadline - time)) {
            return 0 if $f->{eof};
            if ($f->{opcode} == 10) { push @pongs, $f; return 1 }
            if ($f->{opcode} <= 2) { push @data, $f } else { push @other, $f }
        }
        return 0;
    };
    $c->send_raw($frames[0] . ws_frame(opcode => 9, payload => 'ping one'));
    ok $wait_pong->(), 'a ping after the first compressed fragment: pong before the message ends';
    $c->send_raw($frames[1] . ws_frame(opcode => 9, payload => 'ping two'));
    ok $wait_pong->(), 'a ping after the second fragment: pong';
    $c->send_raw($frames[2]);
    until (@data && $data[-1]{fin}) {
        my $f = $c->read_frame(timeout => 10) or last;
        last if $f->{eof};
        if ($f->{opcode} <= 2) { push @data, $f } else { push @other, $f }
    }
    is_deeply [map { $_->{payload} } @pongs], ['ping one', 'ping two'], 'the pongs carry the pings\' payloads, in order';
    ok !grep({ $_->{rsv} || $_->{masked} || !$_->{fin} } @pongs), 'the pongs: no RSV bits, unmasked, final';
    ok !@other, 'nothing else came' or diag 'opcodes: ' . join ' ', map { $_->{opcode} } @other;
    echo_is(assemble(@data), 1, $msg, 'the interrupted compressed message is echoed whole', compressed => 1);

    $c->send_frame(opcode => 8, payload => close_payload(1000));
    $c->close_ok(1000, 'clean close after the fragments');
    $c->close;
}

### context takeover ###########################################################

{
    # Both sides keep their context: the client uses one deflater and one
    # inflater for the whole connection.
    my $c = dconn('/ctx', $P, $P);
    my ($d, $i) = (deflater(), inflater());
    my $base = random_letters(2000);
    my @msgs = ($base, $base, $base . 'tail', 'short one', $base x 3, scalar reverse($base), $base);
    my @sizes;
    for my $k (0 .. $#msgs) {
        my $z = compress_msg($msgs[$k], $d);
        push @sizes, length $z;
        $c->send_frame(opcode => 1, rsv => 4, payload => $z);
        my $m = read_msg($c);
        echo_is($m, 1, $msgs[$k], "context takeover, message $k (" . length($msgs[$k]) . ' bytes) echoes, inflated '
            . 'with the shared inflater', compressed => length $msgs[$k] >= 64, inflater => $i);
        diag "context takeover: message $k sent as $sizes[-1] bytes, echo " . length($m->{payload} // '') . ' bytes'
            if $ENV{TEST_VERBOSE};
    }
    # The client's second message is only a reference into the first: it
    # decodes only with the server's inflater keeping its context.
    cmp_ok $sizes[1], '<', $sizes[0] / 10, "the repeated message was sent as $sizes[1] bytes (the first as $sizes[0])";
    # Uncompressed messages in between do not disturb either context.
    $c->send_frame(opcode => 1, payload => "plain $base");
    echo_is(read_msg($c), 1, "plain $base", 'context takeover: an uncompressed message in between', compressed => 1,
        inflater => $i);
    my $z = compress_msg($base, $d);
    $c->send_frame(opcode => 1, rsv => 4, payload => $z);
    echo_is(read_msg($c), 1, $base, 'context takeover: and the contexts still line up', compressed => 1, inflater => $i);
    $c->send_frame(opcode => 8, payload => close_payload(1000));
    $c->close_ok(1000, 'clean close after context takeover');
    $c->close;
}

{
    # No context takeover (the default): every server message inflates on
    # its own with a fresh inflater, also when it repeats the last one.
    my $c = dconn('/ws');
    my $base = random_letters(2000);
    for my $k (1 .. 3) {
        send_z($c, 1, $base);
        echo_is(read_msg($c), 1, $base, "no context takeover: repeat $k inflates with a fresh inflater", compressed => 1);
    }
    $c->close;
}

### window bits ################################################################

{
    # A 3000-byte block repeated: with more than a 9-bit (512-byte) window
    # the server would refer back 3000 bytes, which a 9-bit inflater rejects.
    my $c = dconn('/w9', "$P; client_max_window_bits=9",
        "$NCT; server_max_window_bits=9; client_max_window_bits=9");
    my $block = random_letters(3000);
    my $text = $block x 30;
    $c->send_frame(opcode => 1, rsv => 4, payload => compress_msg($text, deflater(bits => 9)));
    my $m = read_msg($c);
    echo_is($m, 1, $text, 'server_max_window_bits 9: the echo inflates with -WindowBits => -9', compressed => 1, bits => 9);
    cmp_ok length($m->{payload} // ''), '<', 0.8 * length $text,
        'and it is really compressed (' . length($m->{payload} // '') . ' of ' . length($text) . ' bytes)';
    my $bin = random_bytes(700) x 100;
    $c->send_frame(opcode => 2, rsv => 4, payload => compress_msg($bin, deflater(bits => 9)));
    echo_is(read_msg($c), 2, $bin, 'server_max_window_bits 9: binary with 700-byte repeats', compressed => 1, bits => 9);
    $c->close;
}

{
    # The same with only the client asking for 9 bits.
    my $c = dconn('/ws', "$P; server_max_window_bits=9", "$NCT; server_max_window_bits=9");
    my $text = random_letters(1500) x 20;
    send_z($c, 1, $text);
    echo_is(read_msg($c), 1, $text, 'server_max_window_bits=9 offered: the echo inflates with a 9-bit window',
        compressed => 1, bits => 9);
    $c->close;
}

### levels ###################################################################

for my $path ('/level9', '/level1') {
    my $c = dconn($path);
    my $text = join '', map { random_letters(1 + int rand 8) . ' ' } 1 .. 20000;
    send_z($c, 1, $text);
    echo_is(read_msg($c), 1, $text, "$path: compressed echo of " . length($text) . ' bytes', compressed => 1);
    $c->close;
}

### errors ###################################################################

my $RSV     = qr/websocket.*(?:1002|reserved|rsv)/i;
my $CORRUPT = qr/websocket.*(?:1007|inflat|deflat|compress|corrupt)/i;
my $UTF8    = qr/websocket.*(?:1007|utf-?8)/i;
my $PAYLOAD = qr/websocket.*websocket_max_payload_len/;
my $MESSAGE = qr/websocket.*websocket_max_message_len/;

# Sends $bytes on $c, asserts close $code then EOF, and a new info line in
# the error log matching $re.
sub error_case {
    my ($c, $name, $bytes, $code, $re, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $mark = -s $errlog // 0;
    $c->send_raw($bytes);
    my ($ok, $r) = $c->close_ok($code, "$name: close $code, then EOF", allow_skipped => $o{allow});
    $c->close;
    my $line = WsTest::wait_until(sub {
        (grep { /\[info\]/ && $_ =~ $re } split /\n/, substr($t->error_log, $mark))[0];
    }, 5);
    ok $line, "$name: an info line in the error log says why" or diag "new in the error log:\n"
        . substr($t->error_log, $mark);
    return $r;
}

my $x = compress_msg('x' x 10);

error_case(dconn('/ws'), 'RSV1 on a ping', ws_frame(opcode => 9, rsv => 4, payload => 'x'), 1002, $RSV);
error_case(dconn('/ws'), 'RSV1 on a pong', ws_frame(opcode => 10, rsv => 4, payload => 'x'), 1002, $RSV);
error_case(dconn('/ws'), 'RSV1 on a close', ws_frame(opcode => 8, rsv => 4, payload => close_payload(1000)), 1002, $RSV);
error_case(dconn('/ws'), 'RSV1 on an empty ping', ws_frame(opcode => 9, rsv => 4), 1002, $RSV);
{
    my $z = compress_msg(letters(500));
    error_case(dconn('/ws'), 'RSV1 on the continuation of a compressed message',
        ws_frame(opcode => 1, rsv => 4, fin => 0, payload => substr($z, 0, 10))
        . ws_frame(opcode => 0, rsv => 4, fin => 1, payload => substr($z, 10)), 1002, $RSV, allow => 1);
    error_case(dconn('/ws'), 'RSV1 on the continuation of an uncompressed message',
        ws_frame(opcode => 2, fin => 0, payload => 'abc') . ws_frame(opcode => 0, rsv => 4, fin => 1, payload => $x),
        1002, $RSV, allow => 1);
}
error_case(dconn('/ws'), 'RSV2 on a text frame', ws_frame(opcode => 1, rsv => 2, payload => 'x'), 1002, $RSV);
error_case(dconn('/ws'), 'RSV3 on a binary frame', ws_frame(opcode => 2, rsv => 1, payload => 'x'), 1002, $RSV);
error_case(dconn('/ws'), 'RSV1 and RSV2 on a text frame', ws_frame(opcode => 1, rsv => 6, payload => $x), 1002, $RSV);
error_case(dconn('/ws'), 'RSV1 and RSV3 on a binary frame', ws_frame(opcode => 2, rsv => 5, payload => $x), 1002, $RSV);

# Without negotiation RSV1 is a protocol error like any reserved bit.
error_case(dconn('/ws', '', undef), 'RSV1 without an offer', ws_frame(opcode => 1, rsv => 4, payload => $x), 1002, $RSV);
error_case(dconn('/ws', "$P; server_max_window_bits=8", undef), 'RSV1 after a declined offer',
    ws_frame(opcode => 1, rsv => 4, payload => $x), 1002, $RSV);
error_case(dconn('/nodeflate', $P, undef), 'RSV1 where websocket_deflate is off',
    ws_frame(opcode => 2, rsv => 4, payload => $x), 1002, $RSV);

# Corrupt compressed data.
error_case(dconn('/ws'), 'not raw deflate (reserved block type)', ws_frame(opcode => 1, rsv => 4, payload => "\xff\xff\xff\xff"),
    1007, $CORRUPT);
error_case(dconn('/ws'), 'a stored block with bad lengths', ws_frame(opcode => 2, rsv => 4, payload => "\x00\x05\x00\x00\x00abcde"),
    1007, $CORRUPT);
{
    # The second message of a context-takeover stream refers to the first:
    # sent first on a fresh connection it points before the start.
    my $d = deflater();
    my $base = random_letters(2000);
    compress_msg($base, $d);
    my $ref = compress_msg($base, $d);
    error_case(dconn('/ws'), 'a reference before the start of the window (distance too far back)',
        ws_frame(opcode => 1, rsv => 4, payload => $ref), 1007, $CORRUPT);
    error_case(dconn('/ctx', $P, $P), 'the same as the first message under context takeover',
        ws_frame(opcode => 1, rsv => 4, payload => $ref), 1007, $CORRUPT);
}
{
    # A message cut inside a DEFLATE block: the appended 00 00 ff ff would
    # be read as block data, so the message is not whole blocks.
    my $whole = compress_msg(random_letters(3000));
    error_case(dconn('/ws'), 'a message that ends inside a block (half of one)',
        ws_frame(opcode => 2, rsv => 4, payload => substr($whole, 0, int(length($whole) / 2))),
        1007, $CORRUPT);
}
{
    my $c = dconn('/ws');
    my $text = letters(200);
    send_z($c, 1, $text);
    echo_is(read_msg($c), 1, $text, 'a good compressed message first', compressed => 1);
    error_case($c, 'corrupt data after a good message', ws_frame(opcode => 2, rsv => 4, payload => "\xff" x 20),
        1007, $CORRUPT);
}
{
    # The first fragment ends on a block boundary (sync flush); the second
    # starts a block of the reserved type 3.
    my $p1 = compress_part(deflater(), letters(500));
    error_case(dconn('/ws'), 'corrupt data in the second fragment',
        ws_frame(opcode => 1, rsv => 4, fin => 0, payload => $p1)
        . ws_frame(opcode => 0, fin => 1, payload => "\xff\xff\xff\xff\xff\xff"), 1007, $CORRUPT, allow => 1);
}

# Invalid UTF-8 after inflation.
error_case(dconn('/ws'), 'compressed text inflating to invalid UTF-8',
    ws_frame(opcode => 1, rsv => 4, payload => compress_msg("abc\xff\xfedef" x 20)), 1007, $UTF8);
error_case(dconn('/ws'), 'compressed text inflating to a truncated UTF-8 sequence',
    ws_frame(opcode => 1, rsv => 4, payload => compress_msg(('a' x 100) . "\xE2\x82")), 1007, $UTF8);
error_case(dconn('/ws'), 'compressed text inflating to an overlong encoding',
    ws_frame(opcode => 1, rsv => 4, payload => compress_msg("\xC0\x80")), 1007, $UTF8);
{
    my $d = deflater();
    my $p1 = compress_part($d, 'valid start ' x 10);
    my $p2 = compress_part($d, "\xED\xA0\x80 (a surrogate)");
    $p2 =~ s/\x00\x00\xff\xff\z//;
    error_case(dconn('/ws'), 'invalid UTF-8 in the second compressed fragment',
        ws_frame(opcode => 1, rsv => 4, fin => 0, payload => $p1) . ws_frame(opcode => 0, fin => 1, payload => $p2),
        1007, $UTF8, allow => 1);
}
{
    my $c = dconn('/ws');
    my $bin = "\xff\xfe\xc0\x80" x 30;
    send_z($c, 2, $bin);
    echo_is(read_msg($c), 2, $bin, 'compressed binary with invalid UTF-8 echoes (binary is not checked)', compressed => 1);
    $c->close;
}

# Inflated sizes: websocket_max_payload_len 1k, websocket_max_message_len 4k.
{
    my $c = dconn('/limits');
    my $text = letters(1024);
    send_z($c, 1, $text);
    echo_is(read_msg($c), 1, $text, 'limits: a frame inflating to exactly 1k echoes', compressed => 1);
    my $d = deflater();
    my $four = letters(4096);
    my @parts = map { compress_part($d, substr($four, $_ * 1024, 1024)) } 0 .. 3;    # 1k each
    $parts[-1] =~ s/\x00\x00\xff\xff\z//;
    $c->send_raw(join '', map { ws_frame(opcode => $_ ? 0 : 2, rsv => $_ ? 0 : 4, fin => $_ == 3 ? 1 : 0,
        payload => $parts[$_]) } 0 .. 3);
    echo_is(read_msg($c), 2, $four,
        'limits: 4 compressed frames of at most 1k inflating to exactly 4k echo', compressed => 1);
    $c->close;
}
error_case(dconn('/limits'), 'limits: one frame inflating to 1025 bytes (1k + 1)',
    ws_frame(opcode => 1, rsv => 4, payload => compress_msg(letters(1025))), 1009, $PAYLOAD, allow => 1);
error_case(dconn('/limits'), 'limits: one frame of zeros inflating to 1 MiB',
    ws_frame(opcode => 2, rsv => 4, payload => compress_msg("\0" x (1024 * 1024))), 1009, $PAYLOAD, allow => 1);
{
    my $d = deflater();
    my $p1 = compress_part($d, letters(500));
    my $p2 = compress_part($d, letters(2000));
    $p2 =~ s/\x00\x00\xff\xff\z//;
    error_case(dconn('/limits'), 'limits: a continuation inflating to 2000 bytes',
        ws_frame(opcode => 1, rsv => 4, fin => 0, payload => $p1) . ws_frame(opcode => 0, fin => 1, payload => $p2),
        1009, $PAYLOAD, allow => 1);
}
{
    my $d = deflater();
    my @parts = map { compress_part($d, letters(1000)) } 1 .. 5;    # 5000 bytes in all
    $parts[-1] =~ s/\x00\x00\xff\xff\z//;
    my $r = error_case(dconn('/limits'), 'limits: 5 frames of 1000 inflated bytes (message over 4k)',
        join('', map { ws_frame(opcode => $_ ? 0 : 2, rsv => $_ ? 0 : 4, fin => $_ == 4 ? 1 : 0, payload => $parts[$_]) }
            0 .. 4), 1009, $MESSAGE, allow => 1);
}
{
    # The same limit for a message sent uncompressed is unchanged.
    my $c = dconn('/limits');
    $c->send_frame(opcode => 1, payload => 'u' x 1025);
    $c->close_ok(1009, 'limits: an uncompressed frame of 1025 bytes still gets 1009');
    $c->close;
}

# The worker is still serving.
{
    my $c = dconn('/ws');
    my $text = letters(300);
    send_z($c, 1, $text);
    echo_is(read_msg($c), 1, $text, 'a fresh connection after all the errors echoes', compressed => 1);
    $c->close;
}

{
    # A compressed message the client leaves unfinished: at the keepalive
    # ping the server sends what it compressed so far and gives its
    # compressor back (the rest comes from a fresh one); the message still
    # echoes whole and exact once the client finishes it.
    my $c = dconn('/quiet');
    my $data = join '', map { qq({"n":$_,"v":"x$_"},) } 1 .. 3000;
    my $z = compress_msg($data);
    my $cut = int(length($z) / 2);
    $c->send_raw(ws_frame(opcode => 1, rsv => 4, fin => 0, payload => substr($z, 0, $cut)));
    my $deadline = time + 5;
    my (@frames, $ping, $done);
    # The echo so far, then the ping.
    while (!$ping && time < $deadline) {
        my $f = $c->read_frame(timeout => $deadline - time) or last;
        if ($f->{opcode} == 9) { $ping = $f } else { push @frames, $f }
    }
    ok $ping, 'a ping after 1 s of silence inside the message';
    $c->send_frame(opcode => 10, payload => $ping ? $ping->{payload} : '');
    $c->send_raw(ws_frame(opcode => 0, fin => 1, payload => substr($z, $cut)));
    $deadline = time + 5;
    while (!$done && time < $deadline) {
        my $f = $c->read_frame(timeout => $deadline - time) or last;
        next if $f->{opcode} == 9 || $f->{opcode} == 10;
        push @frames, $f;
        $done = $f->{fin};
    }
    ok $done, 'the echo ended once the client finished the message';
    my $m = assemble(@frames);
    is_deeply $m && $m->{bad}, [], 'one well-formed echoed message';
    ok $m && ($m->{rsv} & 4) && !$m->{later_rsv}, 'compressed, RSV1 on its first frame only';
    my $whole = $m ? inflate_msg($m->{payload}) : undef;
    is length($whole // ''), length $data, 'the echo inflates to the whole message';
    ok defined $whole && $whole eq $data, 'and is exactly the message';
    $c->send_frame(opcode => 8, payload => close_payload(1000));
    $c->close_ok(1000, 'clean close');
}

$t->stop;

done_testing;
