# Directive parsing, checked with `nginx -t`: websocket_echo,
# websocket_timeout, websocket_ping_interval, websocket_max_payload_len,
# websocket_max_message_len, websocket_protocols, websocket_require_protocol
# and websocket_origins are accepted where they belong, and bad values,
# contexts, origins, subprotocol names and contradictory settings are
# rejected with an [emerg] that names the directive (not "unknown
# directive", which is what nginx says when the module is missing).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use WsTest;

my $t = WsTest->new;

# One server, `location /ws { websocket_echo; <location> }`; http =>,
# server =>, location => add directives, no_echo => 1 drops websocket_echo.
sub conf { WsTest::check_config(@_) }

my @good = (
    ['all directives in a location' => conf(location => 'websocket_timeout 5s; websocket_max_payload_len 64k;')],
    ['timeout and max_payload_len at http level' =>
        conf(http => 'websocket_timeout 5s; websocket_max_payload_len 64k;')],
    ['timeout and max_payload_len at server level' =>
        conf(server => 'websocket_timeout 5s; websocket_max_payload_len 64k;')],
    ['size with m suffix, time in minutes' =>
        conf(location => 'websocket_timeout 1m; websocket_max_payload_len 2m;')],
    ['policy directives in a location' => conf(location => 'websocket_ping_interval 20s;'
        . ' websocket_max_message_len 4m; websocket_protocols chat v2.chat;'
        . ' websocket_require_protocol on;'
        . ' websocket_origins https://example.com http://localhost:8080 https://[::1]:8443 null *;')],
    ['policy directives at http level' => conf(http => 'websocket_ping_interval 500ms;'
        . ' websocket_max_message_len off; websocket_protocols mqtt;'
        . ' websocket_require_protocol off; websocket_origins $scheme://$http_host;')],
    ['policy directives at server level, protocols inherited by require' =>
        conf(server => 'websocket_protocols chat; websocket_origins https://a.example;',
            location => 'websocket_require_protocol on;')],
    ['websocket_max_message_len 0 (empty messages only)' =>
        conf(location => 'websocket_max_message_len 0;')],
);
$t->nginx_t_ok(@$_) for @good;

my @bad = (
    ['websocket_timeout abc'        => websocket_timeout => conf(location => 'websocket_timeout abc;')],
    ['websocket_timeout 0'          => websocket_timeout => conf(location => 'websocket_timeout 0;')],
    ['websocket_max_payload_len -1' => websocket_max_payload_len => conf(location => 'websocket_max_payload_len -1;')],
    ['websocket_max_payload_len 12q' => websocket_max_payload_len => conf(location => 'websocket_max_payload_len 12q;')],
    ['websocket_echo on (takes no arguments)' => websocket_echo =>
        conf(no_echo => 1, location => 'websocket_echo on;')],
    ['websocket_echo at server level (location only)' => websocket_echo =>
        conf(no_echo => 1, server => 'websocket_echo;', location => 'return 204;')],
    ['websocket_echo twice' => websocket_echo => conf(location => 'websocket_echo;')],
    ['websocket_timeout twice' => websocket_timeout =>
        conf(location => 'websocket_timeout 1s; websocket_timeout 2s;')],
    ['websocket_ping_interval 0' => websocket_ping_interval =>
        conf(location => 'websocket_ping_interval 0;')],
    ['websocket_ping_interval soon' => websocket_ping_interval =>
        conf(location => 'websocket_ping_interval soon;')],
    ['websocket_max_message_len 1x' => websocket_max_message_len =>
        conf(location => 'websocket_max_message_len 1x;')],
    ['websocket_max_message_len with two values' => websocket_max_message_len =>
        conf(location => 'websocket_max_message_len 1k 2k;')],
    ['websocket_protocols with a space in a name' => websocket_protocols =>
        conf(location => 'websocket_protocols "chat room";')],
    ['websocket_protocols with a comma' => websocket_protocols =>
        conf(location => 'websocket_protocols chat,v2;')],
    ['websocket_protocols with a name twice' => websocket_protocols =>
        conf(location => 'websocket_protocols chat chat;')],
    ['websocket_protocols without names' => websocket_protocols =>
        conf(location => 'websocket_protocols;')],
    ['websocket_protocols twice' => websocket_protocols =>
        conf(location => 'websocket_protocols a; websocket_protocols b;')],
    ['websocket_require_protocol maybe' => websocket_require_protocol =>
        conf(location => 'websocket_require_protocol maybe;')],
    ['websocket_require_protocol on without websocket_protocols' => websocket_require_protocol =>
        conf(location => 'websocket_require_protocol on;')],
    ['websocket_origins with a trailing slash' => websocket_origins =>
        conf(location => 'websocket_origins https://example.com/;')],
    ['websocket_origins with a path' => websocket_origins =>
        conf(location => 'websocket_origins https://example.com/app;')],
    ['websocket_origins without a scheme' => websocket_origins =>
        conf(location => 'websocket_origins example.com;')],
    ['websocket_origins with a bad port' => websocket_origins =>
        conf(location => 'websocket_origins https://example.com:99999;')],
    ['websocket_origins with user info' => websocket_origins =>
        conf(location => 'websocket_origins https://me@example.com;')],
    ['websocket_origins without values' => websocket_origins =>
        conf(location => 'websocket_origins;')],
    ['websocket_origins in events' => websocket_origins =>
        conf(location => '') =~ s/events \{/events { websocket_origins *;/r],
);
$t->nginx_t_refuses(@$_) for @bad;

# A variable nginx does not know: nginx's own error, still an [emerg].
{
    $t->write_config(conf(location => 'websocket_origins $no_such_variable_here;'));
    my ($rc, $out) = $t->nginx_t;
    isnt $rc, 0, 'nginx -t fails: websocket_origins with an unknown variable';
    like $out, qr/\[emerg\].*no_such_variable_here/, 'the output names the unknown variable' or diag $out;
}

# The messages say what is wrong, not only where.
for my $case (
    ['websocket_origins https://example.com/;' => qr/invalid origin "https:\/\/example\.com\/" in "websocket_origins" directive: must not have a path or a trailing "\/"/],
    ['websocket_protocols "chat room";' => qr/invalid subprotocol "chat room" in "websocket_protocols" directive/],
    ['websocket_require_protocol on;' => qr/"websocket_require_protocol on" needs "websocket_protocols"/],
) {
    my ($directive, $re) = @$case;
    $t->write_config(conf(location => $directive));
    my (undef, $out) = $t->nginx_t;
    like $out, $re, "message for $directive" or diag $out;
}

# Nothing was started; the error-log check still applies to what -t logged,
# except the [emerg] lines the bad configs are expected to produce.
my @crash = grep { /\[(?:alert|crit)\]/ || /exited on signal/ } split /\n/, $t->error_log;
ok !@crash, 'nginx -t logged no alert/crit' or diag join "\n", @crash;

done_testing;
