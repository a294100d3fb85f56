# permessage-deflate negotiation (RFC 7692 section 7.1): the exact
# Sec-WebSocket-Extensions answer in the 101 for the offers real clients
# send (Chromium, Firefox, Python websockets), for each parameter, quoted
# values, parameter names in any case, several offers in one header and over
# two header lines (the first acceptable offer wins), and under several
# configurations (locations and a second server with different directive
# values, inherited from the server level). Every unacceptable offer is
# declined, never refused: the 101 still comes, without the header or with
# the answer to the next acceptable offer. server_max_window_bits=8 is
# declined. No header with websocket_deflate off or without the directive;
# other extension names are ignored. $websocket_extensions in the access log
# line written when the WebSocket ends is the answer, or "-".

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use WsTest qw(close_payload);

my $t = WsTest->new;
$t->write_config(<<'EOF');
%%TEST_GLOBALS%%
events { worker_connections 256; }
http {
    %%TEST_GLOBALS_HTTP%%
    log_format ext 'case=$arg_case status=$status ext="$websocket_extensions"';
    access_log %%PREFIX%%/logs/ext.log ext;
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name localhost;
        # Defaults: no context takeover either way, 15-bit windows.
        location /ws { websocket_echo; websocket_deflate on; }
        location /off { websocket_echo; websocket_deflate off; }
        location /none { websocket_echo; }
        location /ctx {
            websocket_echo;
            websocket_deflate on;
            websocket_deflate_server_context_takeover on;
            websocket_deflate_client_context_takeover on;
        }
        location /bits {
            websocket_echo;
            websocket_deflate on;
            websocket_deflate_server_max_window_bits 10;
            websocket_deflate_client_max_window_bits 12;
        }
        location /mix {
            websocket_echo;
            websocket_deflate on;
            websocket_deflate_server_context_takeover on;
            websocket_deflate_server_max_window_bits 9;
        }
        location /cli {
            websocket_echo;
            websocket_deflate on;
            websocket_deflate_client_context_takeover on;
            websocket_deflate_client_max_window_bits 9;
        }
        location / { return 200 "plain"; }
    }
    server {
        listen 127.0.0.1:%%PORT2%%;
        server_name localhost;
        # Server level, inherited by the locations.
        websocket_deflate on;
        websocket_deflate_server_max_window_bits 13;
        websocket_deflate_client_context_takeover on;
        location /ws { websocket_echo; }
        location /off { websocket_echo; websocket_deflate off; }
        location /over { websocket_echo; websocket_deflate_server_max_window_bits 15; }
    }
}
EOF
$t->run;

my @socks;    # connections to port2 (the harness tracks those to port)

# A raw upgrade to $path on $port with one Sec-WebSocket-Extensions line
# per element of $lines (an element [name, value] is any header line).
# Returns the response of WsTest::http plus accept_ok.
sub handshake {
    my ($port, $path, @lines) = @_;
    my $key = WsTest::ws_key();
    my $req = "GET $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nUpgrade: websocket\r\n"
        . "Connection: Upgrade\r\nSec-WebSocket-Key: $key\r\nSec-WebSocket-Version: 13\r\n"
        . join('', map { ref $_ ? "$_->[0]: $_->[1]\r\n" : "Sec-WebSocket-Extensions: $_\r\n" } @lines)
        . "\r\n";
    my $sock;
    if ($port == $t->port) {
        $sock = $t->connect;
    } else {
        $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
            Timeout => 5) or die "connect 127.0.0.1:$port: $!\n";
        setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
        binmode $sock;
        push @socks, $sock;
    }
    my $r = $t->http($req, sock => $sock);
    $r->{accept_ok} = ($r->{headers}{'sec-websocket-accept'} // '') eq WsTest::ws_accept($key);
    return $r;
}

# Assertion: a 101 with the right accept and exactly one
# Sec-WebSocket-Extensions line whose value is exactly $want (undef: none).
sub answer_is {
    my ($r, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @why;
    push @why, 'status ' . ($r->{status} // 'none') . ' (' . ($r->{status_line} // '') . ')'
        unless ($r->{status} // 0) == 101;
    push @why, 'wrong or missing Sec-WebSocket-Accept' if ($r->{status} // 0) == 101 && !$r->{accept_ok};
    # From the raw head: the value as sent, not trimmed.
    my @ext = map { /^Sec-WebSocket-Extensions:[ \t]?(.*)\z/i ? $1 : () } split /\r\n/, $r->{raw} // '';
    if (defined $want) {
        push @why, scalar(@ext) . ' Sec-WebSocket-Extensions lines' if @ext != 1;
        push @why, "answer '$ext[0]'" if @ext == 1 && $ext[0] ne $want;
    } elsif (@ext) {
        push @why, 'unexpected Sec-WebSocket-Extensions: ' . join(' | ', @ext);
    }
    my $ok = ok(!@why, $name);
    diag(join('; ', @why) . ($want ? ", want '$want'" : ', want no header')) unless $ok;
    close $r->{sock} if $r->{sock};
    return $ok;
}

my $P   = 'permessage-deflate';
my $NCT = "$P; server_no_context_takeover; client_no_context_takeover";    # the default answer

### real clients ###########################################################

my @cases = (
    # [name, path, [header lines], expected answer (undef: no header)]
    ['Chromium: client_max_window_bits without a value' => '/ws', ["$P; client_max_window_bits"], $NCT],
    ['Firefox: bare permessage-deflate' => '/ws', [$P], $NCT],
    ['Python websockets: client_max_window_bits without a value' => '/ws',
        ["$P; client_max_window_bits"], $NCT],
    ['Chromium under context takeover on both sides' => '/ctx', ["$P; client_max_window_bits"], $P],
    ['Firefox under context takeover on both sides' => '/ctx', [$P], $P],

### each parameter alone, default config ##################################

    ['server_no_context_takeover' => '/ws', ["$P; server_no_context_takeover"], $NCT],
    ['client_no_context_takeover' => '/ws', ["$P; client_no_context_takeover"], $NCT],
    ['server_max_window_bits=10' => '/ws', ["$P; server_max_window_bits=10"], "$NCT; server_max_window_bits=10"],
    ['server_max_window_bits=9' => '/ws', ["$P; server_max_window_bits=9"], "$NCT; server_max_window_bits=9"],
    ['server_max_window_bits=15 (echoed: it was offered)' => '/ws', ["$P; server_max_window_bits=15"],
        "$NCT; server_max_window_bits=15"],
    ['client_max_window_bits=10' => '/ws', ["$P; client_max_window_bits=10"], "$NCT; client_max_window_bits=10"],
    ['client_max_window_bits=8 (the client may use 8)' => '/ws', ["$P; client_max_window_bits=8"],
        "$NCT; client_max_window_bits=8"],
    ['client_max_window_bits=15' => '/ws', ["$P; client_max_window_bits=15"], "$NCT; client_max_window_bits=15"],
    ['every parameter' => '/ws',
        ["$P; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=11"],
        "$NCT; server_max_window_bits=12; client_max_window_bits=11"],
    ['every parameter in reverse order: answer in the fixed order' => '/ws',
        ["$P; client_max_window_bits=11; server_max_window_bits=12; client_no_context_takeover; server_no_context_takeover"],
        "$NCT; server_max_window_bits=12; client_max_window_bits=11"],

### quoting, case, spacing #################################################

    ['quoted server_max_window_bits="10"' => '/ws', [qq{$P; server_max_window_bits="10"}],
        "$NCT; server_max_window_bits=10"],
    ['quoted client_max_window_bits="9"' => '/ws', [qq{$P; client_max_window_bits="9"}],
        "$NCT; client_max_window_bits=9"],
    ['parameter names in upper/mixed case' => '/ws',
        ["$P; Server_Max_Window_Bits=11; CLIENT_MAX_WINDOW_BITS=10; Server_No_Context_Takeover"],
        "$NCT; server_max_window_bits=11; client_max_window_bits=10"],
    ['header name in lower case' => '/ws', [['sec-websocket-extensions' => "$P; server_max_window_bits=10"]],
        "$NCT; server_max_window_bits=10"],
    ['no spaces around ";"' => '/ws', ["$P;server_max_window_bits=10;client_max_window_bits"],
        "$NCT; server_max_window_bits=10"],
    ['extra spaces and tabs around ";"' => '/ws', ["$P \t;  server_max_window_bits=10 ;\tclient_no_context_takeover"],
        "$NCT; server_max_window_bits=10"],

### configurations #########################################################

    ['/bits (server 10, client 12), Firefox' => '/bits', [$P], "$NCT; server_max_window_bits=10"],
    ['/bits, Chromium: client_max_window_bits=12 (the configured value)' => '/bits',
        ["$P; client_max_window_bits"], "$NCT; server_max_window_bits=10; client_max_window_bits=12"],
    ['/bits, server_max_window_bits=12 offered: 10' => '/bits', ["$P; server_max_window_bits=12"],
        "$NCT; server_max_window_bits=10"],
    ['/bits, server_max_window_bits=9 offered: 9' => '/bits', ["$P; server_max_window_bits=9"],
        "$NCT; server_max_window_bits=9"],
    ['/bits, client_max_window_bits=14 offered: 12' => '/bits', ["$P; client_max_window_bits=14"],
        "$NCT; server_max_window_bits=10; client_max_window_bits=12"],
    ['/bits, client_max_window_bits=9 offered: 9' => '/bits', ["$P; client_max_window_bits=9"],
        "$NCT; server_max_window_bits=10; client_max_window_bits=9"],
    ['/ctx, server_no_context_takeover offered' => '/ctx', ["$P; server_no_context_takeover"],
        "$P; server_no_context_takeover"],
    ['/ctx, client_no_context_takeover offered' => '/ctx', ["$P; client_no_context_takeover"],
        "$P; client_no_context_takeover"],
    ['/ctx, both offered' => '/ctx', ["$P; client_no_context_takeover; server_no_context_takeover"], $NCT],
    ['/mix (server takeover on, server bits 9), Firefox' => '/mix', [$P],
        "$P; client_no_context_takeover; server_max_window_bits=9"],
    ['/mix, server_max_window_bits=12 offered: 9' => '/mix', ["$P; server_max_window_bits=12"],
        "$P; client_no_context_takeover; server_max_window_bits=9"],
    ['/mix, server_max_window_bits=8 declined even with 9 configured' => '/mix',
        ["$P; server_max_window_bits=8"], undef],
    ['/cli (client takeover on, client bits 9), Firefox' => '/cli', [$P], "$P; server_no_context_takeover"],
    ['/cli, Chromium: client_max_window_bits=9' => '/cli', ["$P; client_max_window_bits"],
        "$P; server_no_context_takeover; client_max_window_bits=9"],
    ['/cli, client_max_window_bits=12 offered: 9' => '/cli', ["$P; client_max_window_bits=12"],
        "$P; server_no_context_takeover; client_max_window_bits=9"],
    ['/cli, client_no_context_takeover offered' => '/cli', ["$P; client_no_context_takeover"], $NCT],

### off ####################################################################

    ['websocket_deflate off: no header for Chromium' => '/off', ["$P; client_max_window_bits"], undef],
    ['websocket_deflate off: no header for Firefox' => '/off', [$P], undef],
    ['no deflate directive: no header' => '/none', ["$P; client_max_window_bits"], undef],
    ['deflate on, no offer: no header' => '/ws', [], undef],

### other extensions #######################################################

    ['other extension alone: ignored' => '/ws', ['x-webkit-deflate-frame'], undef],
    ['other extension with parameters: ignored' => '/ws', ['foo; server_max_window_bits=10; bar="1"'], undef],
    ['a name that only starts with permessage-deflate: ignored' => '/ws', ['permessage-deflate-x'], undef],
    ['other extensions before and after' => '/ws', ["x-webkit-deflate-frame, $P; server_max_window_bits=11, foo"],
        "$NCT; server_max_window_bits=11"],

### several offers #########################################################

    ['two offers in one header: the first wins' => '/ws',
        ["$P; client_max_window_bits=12, $P; client_max_window_bits=10"], "$NCT; client_max_window_bits=12"],
    ['two header lines: the first line wins' => '/ws',
        ["$P; server_max_window_bits=11", "$P; server_max_window_bits=12"], "$NCT; server_max_window_bits=11"],
    ['two header lines, the first declined: the second line\'s offer' => '/ws',
        ["$P; server_max_window_bits=8", "$P; server_max_window_bits=12"], "$NCT; server_max_window_bits=12"],
    ['other extension on the first line, offer on the second' => '/ws',
        ['x-foo; a=1', "$P; client_max_window_bits=9"], "$NCT; client_max_window_bits=9"],
    ['three offers, the first two declined: the third' => '/ws',
        ["$P; foo, $P; server_max_window_bits=16", "$P; client_max_window_bits=11"],
        "$NCT; client_max_window_bits=11"],
    ['a fallback list, the first offer declined (server bits 8): the second' => '/bits',
        ["$P; server_max_window_bits=8; client_max_window_bits, $P; client_max_window_bits"],
        "$NCT; server_max_window_bits=10; client_max_window_bits=12"],

### the second server: directives from the server level ####################

    ['server level (server bits 13, client takeover on), Firefox' => 'port2:/ws', [$P],
        "$P; server_no_context_takeover; server_max_window_bits=13"],
    ['server level, Chromium' => 'port2:/ws', ["$P; client_max_window_bits"],
        "$P; server_no_context_takeover; server_max_window_bits=13"],
    ['server level, server_max_window_bits=14 offered: 13' => 'port2:/ws', ["$P; server_max_window_bits=14"],
        "$P; server_no_context_takeover; server_max_window_bits=13"],
    ['server level, client_max_window_bits=10 and client_no_context_takeover' => 'port2:/ws',
        ["$P; client_no_context_takeover; client_max_window_bits=10"],
        "$NCT; server_max_window_bits=13; client_max_window_bits=10"],
    ['location websocket_deflate off under a server-level on' => 'port2:/off', [$P], undef],
    ['location overrides only server bits (15), inherits the rest' => 'port2:/over', [$P],
        "$P; server_no_context_takeover"],
);

# Declined offers: alone (no header), then followed by an acceptable offer
# in the same header (that one's answer) and on a second line.
my @declined = (
    ['unknown parameter' => "$P; foo"],
    ['unknown parameter with a value' => "$P; foo=1"],
    ['unknown parameter that looks like one (max_window_bits)' => "$P; max_window_bits=10"],
    ['repeated server_no_context_takeover' => "$P; server_no_context_takeover; server_no_context_takeover"],
    ['repeated client_no_context_takeover' => "$P; client_no_context_takeover; client_no_context_takeover"],
    ['repeated server_max_window_bits' => "$P; server_max_window_bits=10; server_max_window_bits=10"],
    ['repeated client_max_window_bits (one without value)' => "$P; client_max_window_bits; client_max_window_bits=10"],
    ['repeated parameter in another case' => "$P; client_max_window_bits=10; Client_Max_Window_Bits=10"],
    ['server_no_context_takeover with a value' => "$P; server_no_context_takeover=1"],
    ['server_no_context_takeover with a quoted value' => qq{$P; server_no_context_takeover="true"}],
    ['client_no_context_takeover with a value' => "$P; client_no_context_takeover=true"],
    ['server_max_window_bits without a value' => "$P; server_max_window_bits"],
    ['server_max_window_bits=8' => "$P; server_max_window_bits=8"],
    ['quoted server_max_window_bits="8"' => qq{$P; server_max_window_bits="8"}],
    ['server_max_window_bits=7' => "$P; server_max_window_bits=7"],
    ['server_max_window_bits=16' => "$P; server_max_window_bits=16"],
    ['server_max_window_bits=0' => "$P; server_max_window_bits=0"],
    ['server_max_window_bits=010 (leading zero)' => "$P; server_max_window_bits=010"],
    ['server_max_window_bits=+10 (sign)' => "$P; server_max_window_bits=+10"],
    ['server_max_window_bits=-10' => "$P; server_max_window_bits=-10"],
    ['server_max_window_bits=1a' => "$P; server_max_window_bits=1a"],
    ['server_max_window_bits=abc' => "$P; server_max_window_bits=abc"],
    ['server_max_window_bits=""' => qq{$P; server_max_window_bits=""}],
    ['server_max_window_bits="16"' => qq{$P; server_max_window_bits="16"}],
    ['server_max_window_bits=99999999999999999999 (overflow)' => "$P; server_max_window_bits=99999999999999999999"],
    ['server_max_window_bits= (empty)' => "$P; server_max_window_bits="],
    ['client_max_window_bits=7' => "$P; client_max_window_bits=7"],
    ['client_max_window_bits=16' => "$P; client_max_window_bits=16"],
    ['client_max_window_bits=016' => "$P; client_max_window_bits=016"],
    ['client_max_window_bits=-9' => "$P; client_max_window_bits=-9"],
    ['client_max_window_bits=x' => "$P; client_max_window_bits=x"],
    ['client_max_window_bits="20"' => qq{$P; client_max_window_bits="20"}],
);

for my $case (@cases) {
    my ($name, $path, $lines, $want) = @$case;
    my $port = $path =~ s/^port2://r eq $path ? $t->port : $t->port2;
    $path =~ s/^port2://;
    answer_is(handshake($port, $path, @$lines), $want, "$name: " . ($want // 'no header'));
}

for my $case (@declined) {
    my ($name, $offer) = @$case;
    answer_is(handshake($t->port, '/ws', $offer), undef, "declined, $name: 101 without the header");
    answer_is(handshake($t->port, '/ws', "$offer, $P; server_max_window_bits=11"),
        "$NCT; server_max_window_bits=11", "declined, $name: the next offer in the header is taken");
    answer_is(handshake($t->port, '/ws', $offer, "$P; client_max_window_bits=12"),
        "$NCT; client_max_window_bits=12", "declined, $name: the offer on the next line is taken");
}

# Malformed extension headers are never a reason to refuse the upgrade.
for my $bad (';', ',', ';;;', '=', '"', "$P; server_max_window_bits=\"10", "$P; =10", "$P;; client_max_window_bits",
    "$P; server_max_window_bits=10=11", "$P; a b") {
    my $r = handshake($t->port, '/ws', $bad);
    is $r->{status}, 101, "malformed Sec-WebSocket-Extensions '$bad': still 101";
    close $r->{sock};
}

### $websocket_extensions in the access log ###############################

# Opens a WebSocket, closes it with 1000 (the line is written then) and
# returns the log line of ?case=$case.
sub logged {
    my ($port, $path, $case, @lines) = @_;
    my $r = handshake($port, "$path?case=$case", @lines);
    my $c = WsTest::Conn->new($r->{sock}, $r->{rest}, $r);
    $c->send_frame(opcode => 8, payload => close_payload(1000));
    $c->close_ok(1000, "$case: closed with 1000");
    $c->close;
    my $line;
    WsTest::wait_until(sub {
        ($line) = grep { /^case=\Q$case\E / } split /\n/, WsTest::_slurp($t->prefix . '/logs/ext.log');
        $line;
    }, 5);
    return $line;
}

for my $case (
    ['chromium', $t->port, '/ws', ["$P; client_max_window_bits"], $NCT],
    ['bits', $t->port, '/bits', ["$P; client_max_window_bits=9"], "$NCT; server_max_window_bits=10; client_max_window_bits=9"],
    ['ctx', $t->port, '/ctx', [$P], $P],
    ['declined', $t->port, '/ws', ["$P; server_max_window_bits=8"], '-'],
    ['nooffer', $t->port, '/ws', [], '-'],
    ['off', $t->port, '/off', [$P], '-'],
    ['server2', $t->port2, '/ws', [$P], "$P; server_no_context_takeover; server_max_window_bits=13"],
) {
    my ($name, $port, $path, $lines, $want) = @$case;
    my $line = logged($port, $path, $name, @$lines);
    ok $line, "$name: a log line when the WebSocket ends" or next;
    my %f = WsTest::log_fields($line);
    is $f{status}, 101, "$name: logged with status 101";
    is $f{ext}, $want, "$name: \$websocket_extensions is '$want'" or diag "line: $line";
}

{
    my $r = $t->http("GET /?case=plain HTTP/1.1\r\nHost: localhost\r\nSec-WebSocket-Extensions: $P\r\n"
        . "Connection: close\r\n\r\n");
    is $r->{status}, 200, 'a plain request';
    my $line = WsTest::wait_until(sub {
        (grep { /^case=plain / } split /\n/, WsTest::_slurp($t->prefix . '/logs/ext.log'))[0];
    }, 5);
    my %f = WsTest::log_fields($line);
    is $f{ext}, '-', 'a plain request: $websocket_extensions is "-"' or diag "line: " . ($line // 'none');
}

close $_ for grep { defined fileno $_ } @socks;
$t->stop;
done_testing;
