# The permessage-deflate directives, checked with `nginx -t`:
# websocket_deflate, websocket_deflate_server_max_window_bits,
# websocket_deflate_client_max_window_bits,
# websocket_deflate_server_context_takeover,
# websocket_deflate_client_context_takeover, websocket_deflate_level,
# websocket_deflate_mem_level and websocket_deflate_min_length are accepted
# in http, server and location (with every value at the ends of their
# ranges), and bad values (window bits 8 or 16, level 0 or 10, min_length
# 17k, ...) are rejected with an [emerg] that names the directive (not
# "unknown directive", which is what nginx says when the module is missing).

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

my $all = 'websocket_deflate on; websocket_deflate_server_max_window_bits 12;'
    . ' websocket_deflate_client_max_window_bits 10; websocket_deflate_server_context_takeover on;'
    . ' websocket_deflate_client_context_takeover on; websocket_deflate_level 6;'
    . ' websocket_deflate_mem_level 5; websocket_deflate_min_length 128;';

my @good = (
    ['all deflate directives in a location' => conf(location => $all)],
    ['all deflate directives at http level' => conf(http => $all)],
    ['all deflate directives at server level' => conf(server => $all)],
    ['split over http, server and location (inherited)' => conf(
        http     => 'websocket_deflate on; websocket_deflate_level 9;',
        server   => 'websocket_deflate_server_max_window_bits 9; websocket_deflate_min_length 0;',
        location => 'websocket_deflate_client_max_window_bits 15; websocket_deflate_mem_level 9;')],
    ['a location overrides http (deflate off, other values)' => conf(
        http     => $all,
        location => 'websocket_deflate off; websocket_deflate_server_context_takeover off;'
            . ' websocket_deflate_client_context_takeover off; websocket_deflate_level 1;')],
    ['lowest values' => conf(location => 'websocket_deflate on;'
        . ' websocket_deflate_server_max_window_bits 9; websocket_deflate_client_max_window_bits 9;'
        . ' websocket_deflate_level 1; websocket_deflate_mem_level 1; websocket_deflate_min_length 0;')],
    ['highest values' => conf(location => 'websocket_deflate on;'
        . ' websocket_deflate_server_max_window_bits 15; websocket_deflate_client_max_window_bits 15;'
        . ' websocket_deflate_level 9; websocket_deflate_mem_level 9; websocket_deflate_min_length 16k;')],
    ['min_length in bytes (16384)' => conf(location => 'websocket_deflate on; websocket_deflate_min_length 16384;')],
    ['websocket_deflate off alone' => conf(location => 'websocket_deflate off;')],
    ['deflate directives next to the other websocket_* directives' => conf(location => $all
        . ' websocket_max_payload_len 2m; websocket_max_message_len 8m; websocket_timeout 5s;')],
);
$t->nginx_t_ok(@$_) for @good;

my @bad = (
    ['websocket_deflate maybe' => websocket_deflate => 'websocket_deflate maybe;'],
    ['websocket_deflate without a value' => websocket_deflate => 'websocket_deflate;'],
    ['websocket_deflate with two values' => websocket_deflate => 'websocket_deflate on off;'],
    ['websocket_deflate twice' => websocket_deflate => 'websocket_deflate on; websocket_deflate off;'],
    (map { my ($d, $v) = @$_; ["$d $v" => $d => "websocket_deflate on; $d $v;"] }
        (map { [websocket_deflate_server_max_window_bits => $_] } qw(8 16 0 -9 abc 9k)),
        (map { [websocket_deflate_client_max_window_bits => $_] } qw(8 16 0 abc)),
        (map { [websocket_deflate_server_context_takeover => $_] } qw(yes 1)),
        (map { [websocket_deflate_client_context_takeover => $_] } qw(no 0)),
        (map { [websocket_deflate_level => $_] } qw(0 10 -1 fast)),
        (map { [websocket_deflate_mem_level => $_] } qw(0 10 high)),
        (map { [websocket_deflate_min_length => $_] } qw(17k 16385 1m -1 12q))),
    ['websocket_deflate_level without a value' => websocket_deflate_level => 'websocket_deflate_level;'],
    ['websocket_deflate_level twice' => websocket_deflate_level =>
        'websocket_deflate_level 1; websocket_deflate_level 2;'],
    ['websocket_deflate_server_max_window_bits twice' => websocket_deflate_server_max_window_bits =>
        'websocket_deflate_server_max_window_bits 9; websocket_deflate_server_max_window_bits 10;'],
    ['websocket_deflate_min_length with two values' => websocket_deflate_min_length =>
        'websocket_deflate_min_length 1 2;'],
);
for my $case (@bad) {
    my ($name, $directive, $location) = @$case;
    $t->nginx_t_refuses($name, $directive, conf(location => $location));
}

# The same bad values are refused at http and server level too.
for my $level (qw(http server)) {
    for my $case (['websocket_deflate_server_max_window_bits 16' => 'websocket_deflate_server_max_window_bits'],
                  ['websocket_deflate_level 10' => 'websocket_deflate_level'],
                  ['websocket_deflate_min_length 17k' => 'websocket_deflate_min_length']) {
        my ($line, $directive) = @$case;
        $t->write_config(conf($level => "$line;"));
        my ($rc, $out) = $t->nginx_t;
        ok $rc != 0 && $out =~ /\[emerg\].*\b\Q$directive\E\b/, "$line at $level level: [emerg] naming it"
            or diag "exit $rc: $out";
    }
}

# Outside http, server and location the directive is known but not allowed.
{
    $t->write_config(conf() =~ s/events \{/events { websocket_deflate on;/r);
    my ($rc, $out) = $t->nginx_t;
    ok $rc != 0 && $out =~ /\[emerg\].*"websocket_deflate" directive is not allowed here/,
        'websocket_deflate in events: [emerg] "not allowed here"'
        or diag "exit $rc: $out";
}

# Nothing was started; the error-log check still applies to what -t logged,
# except the [emerg] lines the bad configs are expected to produce.
my @crash = grep { /\[(?:alert|crit)\]/ || /exited on signal/ } split /\n/, $t->error_log;
ok !@crash, 'nginx -t logged no alert/crit' or diag join "\n", @crash;

done_testing;
