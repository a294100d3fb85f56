# The HTTP side of the upgrade (RFC 6455 section 4): a valid opening
# handshake gets exactly the right 101, every malformed one is refused with
# the right status and the connection is not switched to WebSocket, and
# locations without websocket_echo are unaffected.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MIME::Base64 qw(encode_base64);
use WsTest qw(ws_frame close_payload);

my $t = WsTest->new;
$t->write_config(WsTest::echo_config());
$t->run;

# The sample nonce and answer from RFC 6455 section 1.3.
my $KEY    = 'dGhlIHNhbXBsZSBub25jZQ==';
my $ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

# A raw request: headers as an ordered list of [name, value] so that tests
# can drop, duplicate or re-case them.
sub request {
    my (%o) = @_;
    my $line = sprintf "%s %s %s\r\n", $o{method} // 'GET', $o{path} // '/ws',
        $o{proto} // 'HTTP/1.1';
    my @h = $o{headers} ? @{ $o{headers} } : default_headers();
    return $line . join('', map { "$_->[0]: $_->[1]\r\n" } @h) . "\r\n" . ($o{body} // '');
}

# The valid handshake headers, with replacements: name => value replaces,
# name => undef drops, name => [v1, v2] sends the header twice.
sub default_headers {
    my (%repl) = @_;
    my @h = (
        [Host                    => 'localhost'],
        [Upgrade                 => 'websocket'],
        [Connection              => 'Upgrade'],
        ['Sec-WebSocket-Key'     => $KEY],
        ['Sec-WebSocket-Version' => '13'],
    );
    my @out;
    for my $hd (@h) {
        if (!exists $repl{ $hd->[0] }) { push @out, $hd; next }
        my $v = delete $repl{ $hd->[0] };
        push @out, map { [$hd->[0] => $_] } ref $v ? @$v : defined $v ? ($v) : ();
    }
    push @out, map { [$_ => $repl{$_}] } sort keys %repl;
    return @out;
}

sub tokens { map { lc } split /\s*,\s*/, $_[0] // '' }

### the valid handshake ####################################################

{
    my $r = $t->http(request(headers => [
        default_headers(
            # Offered but not supported: the server must not accept them.
            'Sec-WebSocket-Protocol'   => 'chat, superchat',
            'Sec-WebSocket-Extensions' => 'permessage-deflate; client_max_window_bits',
        )
    ]));
    is $r->{status_line}, 'HTTP/1.1 101 Switching Protocols', 'valid handshake: exact 101 status line';
    is lc($r->{headers}{upgrade} // ''), 'websocket', '101 has Upgrade: websocket';
    ok((grep { $_ eq 'upgrade' } tokens($r->{headers}{connection})), '101 has Connection: upgrade')
        or diag "Connection: " . ($r->{headers}{connection} // '(none)');
    is $r->{headers}{'sec-websocket-accept'}, $ACCEPT, 'Sec-WebSocket-Accept is the RFC sample answer';
    my @accept = grep { lc $_->[0] eq 'sec-websocket-accept' } @{ $r->{header_list} };
    is scalar @accept, 1, 'exactly one Sec-WebSocket-Accept';
    ok !exists $r->{headers}{'sec-websocket-protocol'}, 'no Sec-WebSocket-Protocol although offered';
    ok !exists $r->{headers}{'sec-websocket-extensions'}, 'no Sec-WebSocket-Extensions although offered';
    ok !exists $r->{headers}{'content-length'}, 'no Content-Length in the 101';
    ok !exists $r->{headers}{'transfer-encoding'}, 'no Transfer-Encoding in the 101';

    # It really is a WebSocket now: a frame is echoed.
    my $c = WsTest::Conn->new($r->{sock}, $r->{rest}, $r);
    $c->echo_ok(1, 'after 101', 'the upgraded connection echoes');
    $c->send_frame(opcode => 8, payload => close_payload(1000));
    $c->close_ok(1000, 'and closes cleanly');
}

### token and case handling ################################################

my @variants = (
    ['Connection: keep-alive, Upgrade' => [default_headers(Connection => 'keep-alive, Upgrade')]],
    ['Connection: upgrade (lower case)' => [default_headers(Connection => 'upgrade')]],
    ['Upgrade: WebSocket'              => [default_headers(Upgrade => 'WebSocket')]],
    ['lower-case header names'         => [map { [lc $_->[0], $_->[1]] } default_headers()]],
);
for my $v (@variants) {
    my ($name, $headers) = @$v;
    my $r = $t->http(request(headers => $headers));
    is $r->{status}, 101, "$name: 101";
    is $r->{headers}{'sec-websocket-accept'}, $ACCEPT, "$name: accept value";
    close $r->{sock};
}

### refusals ###############################################################

# After a refusal the connection must still be plain HTTP: either the server
# closes it, or a following request on it is served normally.
sub still_http {
    my ($r) = @_;
    return 0 if ($r->{status} // 0) == 101 || length $r->{rest};
    return 1 if $r->{eof};
    my $next = $t->http("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", sock => $r->{sock});
    # Closed without a byte (WebSocket frames here would be a failure).
    return 1 if !defined $next->{status} && $next->{eof} && $next->{raw} eq '';
    return ($next->{status} // 0) == 200 && $next->{body} eq 'plain';
}

my $k15 = encode_base64('x' x 15, '');
my $k17 = encode_base64('y' x 17, '');
my @refusals = (
    ['POST'              => 405, request(method => 'POST')],
    ['HEAD'              => 405, request(method => 'HEAD')],
    ['no Upgrade'        => 400, request(headers => [default_headers(Upgrade => undef)])],
    ['Upgrade: h2c'      => 400, request(headers => [default_headers(Upgrade => 'h2c')])],
    ['no Connection'     => 400, request(headers => [default_headers(Connection => undef)])],
    ['Connection: keep-alive' => 400, request(headers => [default_headers(Connection => 'keep-alive')])],
    ['no Sec-WebSocket-Key' => 400, request(headers => [default_headers('Sec-WebSocket-Key' => undef)])],
    ['key of 15 bytes'   => 400, request(headers => [default_headers('Sec-WebSocket-Key' => $k15)])],
    ['key of 17 bytes'   => 400, request(headers => [default_headers('Sec-WebSocket-Key' => $k17)])],
    ['key not base64'    => 400, request(headers => [default_headers('Sec-WebSocket-Key' => '!!!!!!!!!!!!!!!!!!!!!!==')])],
    ['two keys'          => 400, request(headers => [default_headers('Sec-WebSocket-Key' => [$KEY, $KEY])])],
    ['version 8'         => 426, request(headers => [default_headers('Sec-WebSocket-Version' => 8)])],
    ['no version'        => 426, request(headers => [default_headers('Sec-WebSocket-Version' => undef)])],
    ['HTTP/1.0'          => 400, request(proto => 'HTTP/1.0')],
    ['request body'      => 400, request(headers => [default_headers('Content-Length' => 5)], body => 'hello')],
    ['chunked body'      => 400, request(headers => [default_headers('Transfer-Encoding' => 'chunked')],
                                         body => "5\r\nhello\r\n0\r\n\r\n")],
);
for my $case (@refusals) {
    my ($name, $status, $req) = @$case;
    my $r = $t->http($req);
    is $r->{status}, $status, "$name: $status" or diag $r->{raw};
    ok !exists $r->{headers}{'sec-websocket-accept'}, "$name: no Sec-WebSocket-Accept";
    if ($status == 426) {
        is $r->{headers}{'sec-websocket-version'}, '13', "$name: 426 names Sec-WebSocket-Version: 13";
    }
    if ($status != 426 && $req !~ /^HEAD/) {
        # nginx's own error page, which names the status.
        like $r->{body}, qr/<h1>$status /, "$name: nginx error page";
    }
    ok still_http($r), "$name: connection stays plain HTTP (closed or reusable)";
    close $r->{sock};
}

# The reason for a refusal is logged at info level. "Sec-WebSocket-Key"
# itself contains "WebSocket", so the word must appear once more besides it.
ok $t->wait_for_log(sub {
        my ($line) = @_;
        return 0 unless $line =~ /\[info\]/ && $line =~ /Sec-WebSocket-Key/;
        (my $rest = $line) =~ s/Sec-WebSocket-Key//g;
        return $rest =~ /websocket/i;
    }), 'bad key: an info line names websocket and Sec-WebSocket-Key';

### bytes right behind the handshake #######################################

{
    my $c = $t->ws_connect('/ws', -after => ws_frame(opcode => 1, payload => 'hi'));
    $c->send_frame(opcode => 1, payload => 'there');
    WsTest::Conn::message_is($c->read_message, 1, 'hi', 'frame sent in the same write as the upgrade is echoed');
    WsTest::Conn::message_is($c->read_message, 1, 'there', 'and the connection goes on');
    $c->close;
}

### access log #############################################################

{
    my $tag = 'accesslog' . int rand 1e9;
    my $c = $t->ws_connect("/ws?$tag");
    $c->echo_ok(2, "\x00\x01", 'echo before logging');
    $c->send_frame(opcode => 8, payload => close_payload(1000));
    $c->close_ok(1000, 'closed');
    $c->close;
    my $line = $t->wait_for_log(qr{"GET /ws\?$tag HTTP/1\.1" 101 }, log => 'access', timeout => 5);
    ok $line, 'access log has the websocket request with status 101'
        or diag $t->access_log;
}

### other locations ########################################################

{
    my $r = $t->http("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    is $r->{status}, 200, 'location / without websocket_echo: 200';
    is $r->{body}, 'plain', 'location / body';

    # Upgrade headers do not turn a plain location into a WebSocket one.
    $r = $t->http(request(path => '/'));
    is $r->{status}, 200, 'upgrade request to a plain location: 200';
    is $r->{body}, 'plain', 'upgrade request to a plain location: normal body';
}

$t->stop;
done_testing;
