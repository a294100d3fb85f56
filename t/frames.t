# Echo of well-formed traffic: text and binary messages of every length
# encoding (7/16/64-bit) up to 1 MiB, frames trickled in byte by byte, many
# frames in one write, fragmented messages, and ping/pong handling. The
# server may re-fragment what it sends; only the reassembled content counts.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep);
use WsTest qw(ws_frame close_payload);

my $t = WsTest->new;
$t->write_config(WsTest::echo_config(location => 'websocket_max_payload_len 2m;'));
$t->run;

sub random_bytes { my $n = shift; substr(pack('N*', map { int rand 2**32 } 0 .. $n / 4), 0, $n) }

### sizes ##################################################################

my $c = $t->ws_connect('/ws');
for my $size (0, 1, 125, 126, 127, 65535, 65536, 1024 * 1024) {
    my $text = join '', map { chr(0x61 + $_ % 26) } 0 .. $size - 1;
    $c->echo_ok(1, $text, "text of $size bytes echoed as text", timeout => 20);
    $c->echo_ok(2, random_bytes($size), "binary of $size bytes echoed as binary", timeout => 20);
}

# Multi-byte UTF-8 is valid text too.
$c->echo_ok(1, "gr\xC3\xBC\xC3\x9Fe \xE2\x82\xAC \xF0\x9F\x8E\x89", 'multi-byte UTF-8 text echoed');

### byte by byte ###########################################################

{
    # Each byte in its own segment: the server must keep a partial frame
    # (even a partial header and mask key) across reads. The pause is the
    # point here: it makes every byte a separate read on the server.
    my $frame = ws_frame(opcode => 1, payload => 'trickled in one byte at a time');
    my $sent = 1;
    for my $byte (split //, $frame) {
        $sent &&= $c->send_raw($byte);
        sleep 0.02;
    }
    ok $sent, 'sent a frame byte by byte';
    WsTest::Conn::message_is($c->read_message, 1, 'trickled in one byte at a time',
        'frame sent byte by byte is echoed intact');

    # Same for a frame with a 16-bit length.
    my $long = 'x' x 300;
    my $frame16 = ws_frame(opcode => 2, payload => $long);
    $c->send_raw(substr($frame16, 0, 1));
    sleep 0.02;
    $c->send_raw(substr($frame16, 1, 2));    # header split inside the length field
    sleep 0.02;
    $c->send_raw(substr($frame16, 3, 5));    # ... and inside the mask key
    sleep 0.02;
    $c->send_raw(substr($frame16, 8));
    WsTest::Conn::message_is($c->read_message, 2, $long, '16-bit length frame split inside its header');
}

### many frames in one write ###############################################

{
    my @msgs = map { "message $_ " . ('.' x $_) } 1 .. 100;
    ok $c->send_raw(join '', map { ws_frame(opcode => 1, payload => $_) } @msgs), '100 frames in one write';
    my @got;
    for (1 .. 100) {
        my $m = $c->read_message(timeout => 10);
        last unless $m && !$m->{eof} && $m->{opcode} == 1;
        push @got, $m->{payload};
    }
    is scalar @got, 100, '100 echoes';
    is_deeply \@got, \@msgs, 'echoes in order with the same content';
}

### fragmentation ##########################################################

{
    $c->send_raw(ws_frame(opcode => 1, fin => 0, payload => 'Hel')
        . ws_frame(opcode => 0, fin => 0, payload => 'lo, ')
        . ws_frame(opcode => 0, fin => 1, payload => 'world'));
    WsTest::Conn::message_is($c->read_message, 1, 'Hello, world', 'text in 3 fragments echoed as one text message');

    my $bin = random_bytes(3000);
    $c->send_raw(ws_frame(opcode => 2, fin => 0, payload => substr($bin, 0, 1000))
        . ws_frame(opcode => 0, fin => 0, payload => substr($bin, 1000, 1000))
        . ws_frame(opcode => 0, fin => 1, payload => substr($bin, 2000)));
    WsTest::Conn::message_is($c->read_message, 2, $bin, 'binary in 3 fragments echoed as binary');

    # Empty fragments are legal.
    $c->send_raw(ws_frame(opcode => 1, fin => 0, payload => '')
        . ws_frame(opcode => 0, fin => 0, payload => 'mid')
        . ws_frame(opcode => 0, fin => 1, payload => ''));
    WsTest::Conn::message_is($c->read_message, 1, 'mid', 'empty first and last fragments');
}

### control frames #########################################################

{
    # A ping in the middle of a fragmented message is answered right away
    # (before the message ends), and the message still comes back whole.
    $c->send_raw(ws_frame(opcode => 1, fin => 0, payload => 'before-ping ')
        . ws_frame(opcode => 9, payload => 'ping in the middle'));
    my $pong;
    my @echoed;
    while (my $f = $c->read_frame(timeout => 5)) {
        last if $f->{eof};
        if ($f->{opcode} == 10) { $pong = $f; last }
        push @echoed, $f;    # a streaming server may echo the first fragment first
    }
    ok $pong, 'pong for a ping between fragments arrives before the message is finished';
    is $pong && $pong->{payload}, 'ping in the middle', 'pong carries the ping payload';
    ok $pong && !$pong->{masked} && $pong->{fin}, 'pong is unmasked and final';
    $c->send_frame(opcode => 0, fin => 1, payload => 'after-ping');
    # The rest of the message: frames up to and including the one with FIN.
    my $last = $echoed[-1];
    until ($last && $last->{fin}) {
        $last = $c->read_frame(timeout => 5) or last;
        last if $last->{eof};
        push @echoed, $last;
    }
    my $m = @echoed && !grep({ $_->{opcode} > 7 || $_->{eof} } @echoed)
        ? { opcode => $echoed[0]{opcode}, payload => join('', map { $_->{payload} } @echoed) }
        : undef;
    WsTest::Conn::message_is($m, 1, 'before-ping after-ping', 'the interrupted message is echoed whole');
    ok !grep({ $_->{opcode} == 10 } @echoed), 'only one pong';

    my $p125 = random_bytes(125);
    $c->send_frame(opcode => 9, payload => $p125);
    my $f = $c->read_frame;
    ok $f && !$f->{eof} && $f->{opcode} == 10 && $f->{payload} eq $p125, 'ping with 125-byte payload: pong with the same payload';

    $c->send_frame(opcode => 9, payload => '');
    $f = $c->read_frame;
    ok $f && !$f->{eof} && $f->{opcode} == 10 && $f->{payload} eq '', 'empty ping: empty pong';

    # An unsolicited pong gets no answer: the next thing back is the text echo.
    $c->send_raw(ws_frame(opcode => 10, payload => 'unsolicited') . ws_frame(opcode => 1, payload => 'after pong'));
    $f = $c->read_frame;
    ok $f && !$f->{eof} && $f->{opcode} == 1, 'unsolicited pong: nothing sent back for it'
        or diag 'first frame: opcode ' . ($f ? $f->{opcode} // 'eof' : 'timeout');
    is $f && $f->{payload}, 'after pong', 'text after the pong still echoes';
}

$c->send_frame(opcode => 8, payload => close_payload(1000));
$c->close_ok(1000, 'clean close at the end');

$t->stop;
done_testing;
