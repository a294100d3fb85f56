# A module built for another nginx is refused by nginx itself, with its own
# message, at `nginx -t` time: the failure mode the README documents for
# loading the wrong build. scripts/test passes the module built for the
# other target (embedded 1.28.3 vs Debian's 1.22.1) as TEST_NGINX_FOREIGN_MODULE.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use WsTest;

my $foreign = $ENV{TEST_NGINX_FOREIGN_MODULE};
plan skip_all => 'TEST_NGINX_FOREIGN_MODULE not set (scripts/test sets it)' unless $foreign;

my $t = WsTest->new;

# The right module passes nginx -t ...
$t->write_config(WsTest::echo_config());
my ($rc, $out) = $t->nginx_t;
is $rc, 0, 'nginx -t passes with the module built for this nginx' or diag $out;

# ... the other target's build does not, and nginx says why.
$t->{module} = $foreign;
$t->write_config(WsTest::echo_config());
($rc, $out) = $t->nginx_t;
isnt $rc, 0, 'nginx -t fails with a module built for another nginx';
like $out, qr/\[emerg\].*module ".*" (version \d+ instead of \d+|is not binary compatible)/,
    'nginx names the version or signature mismatch';
unlike $out, qr/exited on signal|Segmentation/, 'no crash while refusing it';

done_testing;
