# The example config users copy (nginx-conf/echo.conf) works as documented:
# nginx starts with it, /echo echoes, / stays plain HTTP. Until that file
# exists, its draft t/fixtures/echo.conf is tested instead (with a note).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use WsTest qw(close_payload);

my $file = 'nginx-conf/echo.conf';
unless (-f "$WsTest::ROOT/$file") {
    diag "$file does not exist yet; testing the draft t/fixtures/echo.conf";
    $file = 't/fixtures/echo.conf';
}

my $t = WsTest->new;
$t->config_from_file($file);
my ($rc, $out) = $t->nginx_t;
is $rc, 0, "$file passes nginx -t" or diag $out;
$t->run;

my $c = $t->ws_connect('/echo');
$c->echo_ok(1, 'hello from the example', "$file: /echo echoes text");
$c->echo_ok(2, "\x00\xFF" x 1000, "$file: /echo echoes binary");
$c->send_frame(opcode => 8, payload => close_payload(1000));
$c->close_ok(1000, "$file: closes with 1000");

# The documented limit (1m) is in force.
$c = $t->ws_connect('/echo');
$c->send_frame(opcode => 2, payload => 'x' x (1024 * 1024 + 1));
$c->close_ok(1009, "$file: a frame over 1m gets 1009");

my $r = $t->http("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
is $r->{status}, 200, "$file: / is plain HTTP";

$t->stop;
done_testing;
