# websocket_origins, with raw requests: an Origin that is not allowed gets
# 403 before any upgrade, and the error log names it; allowed origins
# (exact, case-insensitive, `*`, `null`, values with variables) upgrade; a
# request without Origin (not a browser) is not refused; a repeated Origin
# header is refused with 400; locations inherit and override the list.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use WsTest;

my $t = WsTest->new;
$t->write_config(<<'EOF');
%%TEST_GLOBALS%%
events { worker_connections 64; }
http {
    %%TEST_GLOBALS_HTTP%%
    server {
        listen 127.0.0.1:%%PORT%%;
        websocket_origins https://app.example http://127.0.0.1:%%PORT%%;
        location /ws { websocket_echo; }
        location /any { websocket_echo; websocket_origins *; }
        location /sandboxed { websocket_echo; websocket_origins null; }
        location /same { websocket_echo; websocket_origins $scheme://$http_host; }
        location /unset { websocket_echo; websocket_origins $http_x_allowed_origin; }
    }
    server {
        listen 127.0.0.1:%%PORT2%%;
        location /open { websocket_echo; }
    }
}
EOF
$t->run;

sub try_origin {
    my ($path, @origins) = @_;
    my ($req) = $t->ws_request($path);
    $req =~ s/\r\n\r\n\z/join('', map { "\r\nOrigin: $_" } @origins) . "\r\n\r\n"/e;
    return $t->http($req);
}

my $self_origin = 'http://127.0.0.1:' . $t->port;
for my $case (
    ['/ws', ['https://app.example'], 101, 'a listed origin'],
    ['/ws', ['HTTPS://APP.Example'], 101, 'origins compare case-insensitively'],
    ['/ws', [$self_origin], 101, 'the second listed origin'],
    ['/ws', [], 101, 'no Origin (not a browser): not refused'],
    ['/ws', ['https://evil.example'], 403, 'an unlisted origin'],
    ['/ws', ['https://app.example.evil'], 403, 'a listed origin as a prefix is not enough'],
    ['/ws', ['http://app.example'], 403, 'another scheme is another origin'],
    ['/ws', ['https://app.example:443'], 403, 'a port is part of the origin'],
    ['/ws', ['null'], 403, '"null" is not allowed unless listed'],
    ['/ws', ['https://app.example', 'https://evil.example'], 400, 'a repeated Origin header'],
    ['/any', ['https://evil.example'], 101, '"*" allows every origin'],
    ['/sandboxed', ['null'], 101, '"null" where it is listed'],
    ['/sandboxed', ['https://app.example'], 403, 'a location overrides the inherited list'],
    ['/same', [$self_origin], 101, 'a list with variables: the same origin'],
    ['/same', ['http://127.0.0.1:1'], 403, 'a list with variables: another origin'],
    ['/unset', ['https://app.example'], 403, 'a variable that is empty allows nothing'],
) {
    my ($path, $origins, $want, $name) = @$case;
    my $r = try_origin($path, @$origins);
    is $r->{status}, $want, "$name: $want";
    if ($want == 101) {
        my $c = WsTest::Conn->new($r->{sock}, $r->{rest}, $r);
        $c->echo_ok(1, 'allowed', "$name: echoes");
        $c->close;
    } else {
        ok !$r->{headers}{upgrade} && !$r->{headers}{'sec-websocket-accept'}, "$name: no upgrade";
        ok $r->{eof} || $r->{complete}, "$name: a complete HTTP answer";
    }
}

# A variable with a value from the request itself.
{
    my ($req) = $t->ws_request('/unset', 'X-Allowed-Origin' => 'https://app.example');
    $req =~ s/\r\n\r\n\z/\r\nOrigin: https:\/\/app.example\r\n\r\n/;
    is $t->http($req)->{status}, 101, 'a variable that holds the origin allows it';
}

# Without websocket_origins, behaviour is as before.
{
    my ($req) = $t->ws_request('/open');
    $req =~ s/Host: 127\.0\.0\.1:\d+/'Host: 127.0.0.1:' . $t->port2/e;
    $req =~ s/\r\n\r\n\z/\r\nOrigin: https:\/\/evil.example\r\n\r\n/;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port2, Proto => 'tcp')
        or die "connect: $!\n";
    is $t->http($req, sock => $s)->{status}, 101, 'no websocket_origins: any Origin upgrades';
}

ok $t->wait_for_log(qr/\[info\].*upgrade refused with 403: origin "https:\/\/evil\.example" is not in websocket_origins/),
    'the error log names the refused origin';
ok $t->wait_for_log(qr/\[info\].*repeated Origin header/), 'the repeated Origin is logged';

# A hostile Origin is logged escaped and cut, never raw.
{
    my $evil = "https://x" . ("\x01" x 10) . ('y' x 1000);
    my $r = try_origin('/ws', $evil);
    is $r->{status}, 403, 'a hostile Origin: 403';
    my $line = $t->wait_for_log(qr/origin "https:\/\/x\\x01/);
    ok $line, 'its control bytes are logged escaped' or diag $t->error_log;
    ok $line && length($line) < 1000, 'and the logged origin is cut';
}

$t->stop;
done_testing;
