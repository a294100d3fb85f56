# Subprotocols and the Origin allow-list with an independent, strict client:
# the Python `websockets` library (t/python/policy.py), which fails a 101
# selecting a subprotocol it did not offer. The server has
# `websocket_protocols chat.v2 chat` and `websocket_origins
# http://127.0.0.1:PORT` at server level; /chat-required adds
# `websocket_require_protocol on`, /same-origin has its own
# `websocket_origins $scheme://$http_host`. Each case of policy.py is one
# assertion here; the error and access logs are checked for the same
# connections (?case=NAME names them).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use WsTest;

my $t = WsTest->new;
$t->write_config(<<'EOF');
%%TEST_GLOBALS%%
events { worker_connections 1024; }
http {
    %%TEST_GLOBALS_HTTP%%
    log_format policy 'case=$arg_case status=$status origin="$http_origin" '
                      'host="$http_host" protocol="$websocket_protocol"';

    server {
        listen 127.0.0.1:%%PORT%%;
        server_name localhost;
        access_log %%PREFIX%%/logs/access.log policy;

        websocket_protocols chat.v2 chat;
        websocket_origins http://127.0.0.1:%%PORT%%;

        location = /chat {
            websocket_echo;
        }
        location = /chat-required {
            websocket_echo;
            websocket_require_protocol on;
        }
        location = /same-origin {
            websocket_echo;
            websocket_origins $scheme://$http_host;
        }
        location / {
            return 200 "plain";
        }
    }
}
EOF
$t->run;

my $port = $t->port;
my $own = "http://127.0.0.1:$port";

my $out = $t->run_python('policy.py', 17, $port);

# What each case of policy.py wants (it checks it; this is the test name).
my @cases = (
    [prefer              => 'offering ["chat", "chat.v2"] negotiates "chat.v2" (the server\'s order), echo'],
    [second              => 'offering ["chat"] negotiates "chat", echo'],
    [superchat           => 'offering ["superchat"]: no subprotocol, no Sec-WebSocket-Protocol, accepted, echo'],
    ['no-offer'          => 'offering nothing: no subprotocol, echo'],
    ['require-ok'        => '/chat-required offering ["chat"] negotiates "chat", echo'],
    ['require-superchat' => '/chat-required offering ["superchat"] is refused with HTTP 400'],
    ['require-no-offer'  => '/chat-required offering nothing is refused with HTTP 400'],
    [malformed           => 'a malformed Sec-WebSocket-Protocol ("chat v2") is refused with HTTP 400'],
    ['origin-allowed'    => "Origin $own is accepted, echo"],
    ['origin-case'       => "Origin HTTP://127.0.0.1:$port (other case) is accepted, echo"],
    ['origin-evil'       => 'Origin http://evil.example is refused with HTTP 403'],
    ['origin-other-port' => 'Origin http://127.0.0.1:1 (same host, other port) is refused with HTTP 403'],
    ['same-origin-ip'    => "\$scheme://\$http_host: Origin $own with Host 127.0.0.1:$port is accepted, echo"],
    ['same-origin-name'  => "\$scheme://\$http_host: Origin http://chat.example:$port with that Host is accepted, echo"],
    ['same-origin-cross' => "\$scheme://\$http_host: Origin $own with Host chat.example:$port is refused with 403"],
    ['same-origin-scheme'=> "\$scheme://\$http_host: Origin https://127.0.0.1:$port (other scheme) is refused with 403"],
    ['same-origin-evil'  => "\$scheme://\$http_host: Origin http://evil.example is refused with 403"],
);
for my $c (@cases) {
    my ($name, $what) = @$c;
    my ($line) = $out =~ /^((?:OK|FAIL) \Q$name\E: .*)$/m;
    like $line // '(no line)', qr/^OK /, "$name: $what" or diag $line // $out;
}

# The server's side: each refusal logged at info with its reason, and
# nothing else refused.
for my $origin ('http://evil.example', 'http://127.0.0.1:1', $own, "https://127.0.0.1:$port") {
    ok $t->wait_for_log(qr/\[info\] .*websocket: upgrade refused with 403: origin "\Q$origin\E" is not in websocket_origins/),
        "the error log has the 403 naming origin $origin";
}
is $t->count_log(qr/upgrade refused with 403/), 5, 'five requests were refused for their origin';
is $t->count_log(qr/upgrade refused with 400: no subprotocol of websocket_protocols offered/), 2,
    'two requests were refused for their subprotocol';
ok $t->wait_for_log(qr/\[info\] .*upgrade refused with 400: malformed Sec-WebSocket-Protocol header.*case=malformed /),
    'the error log has the 400 for the malformed Sec-WebSocket-Protocol';

# The access log: the negotiated subprotocol of each connection (its line
# written when it ended), the status of each refusal.
my %want = (
    prefer              => { status => 101, protocol => 'chat.v2', origin => '-' },
    second              => { status => 101, protocol => 'chat' },
    superchat           => { status => 101, protocol => '-' },
    'no-offer'          => { status => 101, protocol => '-' },
    'require-ok'        => { status => 101, protocol => 'chat' },
    'require-superchat' => { status => 400, protocol => '-' },
    'require-no-offer'  => { status => 400, protocol => '-' },
    malformed           => { status => 400, protocol => '-' },
    'origin-allowed'    => { status => 101, protocol => 'chat', origin => $own },
    'origin-evil'       => { status => 403, protocol => '-', origin => 'http://evil.example' },
    'same-origin-name'  => { status => 101, protocol => 'chat.v2', host => "chat.example:$port" },
    'same-origin-cross' => { status => 403, protocol => '-', host => "chat.example:$port" },
);
$t->access_log_cases(\%want, sort keys %want);

$t->stop;
done_testing;
