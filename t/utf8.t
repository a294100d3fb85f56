# UTF-8 validation of text messages (RFC 6455 section 8.1): valid text,
# including code points split across fragments, is echoed; invalid text in
# one frame, split across fragments, or ending inside a code point gets close
# 1007, and nothing containing the invalid bytes is echoed. Binary messages
# are not validated.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use WsTest qw(ws_frame);

my $t = WsTest->new;
$t->write_config(WsTest::echo_config());
$t->run;

sub fragments {
    my ($opcode, @parts) = @_;
    my $out = '';
    for my $i (0 .. $#parts) {
        $out .= ws_frame(opcode => $i ? 0 : $opcode, fin => $i == $#parts ? 1 : 0, payload => $parts[$i]);
    }
    return $out;
}

### valid ##################################################################

{
    my $c = $t->ws_connect('/ws');
    $c->send_raw(fragments(1, "euro \xE2", "\x82\xAC sign"));
    WsTest::Conn::message_is($c->read_message, 1, "euro \xE2\x82\xAC sign", 'code point split across two fragments is valid');
    $c->send_raw(fragments(1, "party \xF0", "\x9F", "\x8E\x89"));
    WsTest::Conn::message_is($c->read_message, 1, "party \xF0\x9F\x8E\x89", '4-byte code point split across three fragments');
    $c->echo_ok(1, "\xF4\x8F\xBF\xBF \xEF\xBF\xBF", 'highest code point U+10FFFF and U+FFFF are valid');
    $c->echo_ok(2, "\xCE\xBA\xED\xA0\x80\xF4\x90\xC0\xAF\xFF", 'invalid UTF-8 in a binary message is echoed unchanged');
    $c->close;
}

### invalid ################################################################

# [name, bytes, bytes that must never be echoed]
my @cases = (
    # "κόσμε" followed by a UTF-16 surrogate (ED A0 80) and "edited".
    ['surrogate in a single text frame' =>
        ws_frame(opcode => 1, payload => "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80\x65\x64\x69\x74\x65\x64"),
        "\xED\xA0"],
    ['overlong encoding' => ws_frame(opcode => 1, payload => "ab\xC0\xAFcd"), "\xC0\xAF"],
    ['byte 0xFF' => ws_frame(opcode => 1, payload => "ab\xFFcd"), "\xFF"],
    ['code point above U+10FFFF split across fragments (F4 | 90)' =>
        fragments(1, "abc\xF4", "\x90\x80\x80def"), "\xF4\x90"],
    ['text frame ending inside a code point' => ws_frame(opcode => 1, payload => "abc\xE2\x82"), "\xE2\x82"],
    ['fragmented text ending inside a code point' => fragments(1, "abc", "def\xF0\x9F"), "\xF0\x9F"],
);

for my $case (@cases) {
    my ($name, $bytes, $bad) = @$case;
    my $c = $t->ws_connect('/ws');
    $c->send_raw($bytes);
    # A server that streams fragments may have echoed the valid part.
    my ($ok, $close) = $c->close_ok(1007, "$name: close 1007", allow_skipped => 1);
    my $echoed = join '', map { $_->{payload} } @{ $close->{skipped} };
    my $complete = grep { $_->{fin} && $_->{opcode} != 9 && $_->{opcode} != 10 } @{ $close->{skipped} };
    ok index($echoed, $bad) < 0 && !$complete, "$name: the invalid bytes are not echoed"
        or diag "echoed: " . WsTest::Conn::_esc($echoed);
    $c->close;
}

my $c = $t->ws_connect('/ws');
$c->echo_ok(1, "ok \xC3\xA9", 'fresh connection still echoes text');
$c->close;

$t->stop;
done_testing;
