# An independent client: the Python `websockets` library round-trips text,
# binary and fragmented messages of several sizes through the echo endpoint
# (t/python/roundtrip.py) and gets its close code 1000 back.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use WsTest;

my $python = $ENV{TEST_NGINX_PYTHON} // 'python3';

my $t = WsTest->new;
$t->write_config(WsTest::echo_config(location => 'websocket_max_payload_len 2m;'));
$t->run;

# Not a skip: without the library this file cannot vouch for anything.
my ($rc, $out) = $t->run_cmd($python, '-c', 'import websockets');
is $rc, 0, 'Python websockets library is importable' or diag $out;

($rc, $out) = $t->run_cmd($python, "$FindBin::Bin/python/roundtrip.py", $t->port, '/ws');
is $rc, 0, 'roundtrip.py exits 0' or diag $out;
like $out, qr/^OK roundtrip: \d+ messages, ping answered, close 1000$/m, 'roundtrip.py reports success'
    or diag $out;
unlike $out, qr/^FAIL/m, 'no failures reported';

$t->stop;
done_testing;
