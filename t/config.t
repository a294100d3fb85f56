# Directive parsing, checked with `nginx -t`: websocket_echo,
# websocket_timeout and websocket_max_payload_len are accepted where they
# belong, and bad values or contexts are rejected with an [emerg] that names
# the directive (not "unknown directive", which is what nginx says when the
# module is missing).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use WsTest;

my $t = WsTest->new;

sub conf {
    my (%o) = @_;
    $o{$_} //= '' for qw(http server location);
    $o{location} = 'websocket_echo;' . $o{location} unless $o{no_echo};
    return <<"EOF";
%%TEST_GLOBALS%%
events { worker_connections 64; }
http {
    %%TEST_GLOBALS_HTTP%%
    $o{http}
    server {
        listen 127.0.0.1:%%PORT%%;
        $o{server}
        location /ws { $o{location} }
    }
}
EOF
}

my @good = (
    ['all directives in a location' => conf(location => 'websocket_timeout 5s; websocket_max_payload_len 64k;')],
    ['timeout and max_payload_len at http level' =>
        conf(http => 'websocket_timeout 5s; websocket_max_payload_len 64k;')],
    ['timeout and max_payload_len at server level' =>
        conf(server => 'websocket_timeout 5s; websocket_max_payload_len 64k;')],
    ['size with m suffix, time in minutes' =>
        conf(location => 'websocket_timeout 1m; websocket_max_payload_len 2m;')],
);
for my $case (@good) {
    my ($name, $conf) = @$case;
    $t->write_config($conf);
    my ($rc, $out) = $t->nginx_t;
    is $rc, 0, "nginx -t passes: $name" or diag $out;
    like $out, qr/test is successful/, "nginx -t reports success: $name";
}

my @bad = (
    ['websocket_timeout abc'        => websocket_timeout => conf(location => 'websocket_timeout abc;')],
    ['websocket_timeout 0'          => websocket_timeout => conf(location => 'websocket_timeout 0;')],
    ['websocket_max_payload_len -1' => websocket_max_payload_len => conf(location => 'websocket_max_payload_len -1;')],
    ['websocket_max_payload_len 12q' => websocket_max_payload_len => conf(location => 'websocket_max_payload_len 12q;')],
    ['websocket_echo on (takes no arguments)' => websocket_echo =>
        conf(no_echo => 1, location => 'websocket_echo on;')],
    ['websocket_echo at server level (location only)' => websocket_echo =>
        conf(no_echo => 1, server => 'websocket_echo;', location => 'return 204;')],
);
for my $case (@bad) {
    my ($name, $directive, $conf) = @$case;
    $t->write_config($conf);
    my ($rc, $out) = $t->nginx_t;
    isnt $rc, 0, "nginx -t fails: $name";
    like $out, qr/\[emerg\]/, "$name: [emerg] in the output";
    like $out, qr/\b\Q$directive\E\b/, "$name: the output names $directive" or diag $out;
    unlike $out, qr/unknown directive/, "$name: the directive is known (module loaded)" or diag $out;
}

# Nothing was started; the error-log check still applies to what -t logged,
# except the [emerg] lines the bad configs are expected to produce.
my @crash = grep { /\[(?:alert|crit)\]/ || /exited on signal/ } split /\n/, $t->error_log;
ok !@crash, 'nginx -t logged no alert/crit' or diag join "\n", @crash;

done_testing;
