# A real browser on the demo page: Debian's headless Chromium, driven by
# playwright-core (t/browser/demo.js), opens nginx-conf/html/index.html as
# served by the example configs, over http:// (nginx-conf/echo.conf, ws://)
# and https:// (nginx-conf/tls.conf with a certificate made at test time,
# wss://). On each page it connects and nginx is reloaded (the page must
# show the server's close 1001 with its reason), then it connects again,
# sends text, binary and a generated 200000-byte message (the page must show
# each echo as a match), and disconnects (close 1000, clean). The page text is read
# from the DOM and a screenshot of each page is saved and checked.
#
# Needs node, /usr/bin/chromium and t/browser/node_modules (scripts/test
# installs them: scripts/lib.sh ensure_browser_deps). TEST_BROWSER_SAVE=DIR
# copies the screenshots there (docs/demo.png is page-2.png, the https page).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Copy qw(copy);
use File::Path qw(make_path);
use Test::More;
use WsTest;

binmode Test::More->builder->$_, ":encoding(UTF-8)" for qw(output failure_output todo_output);

my ($dir, $chromium) = WsTest::browser_prereqs();

my $http = WsTest->new;
$http->config_from_file('nginx-conf/echo.conf');
$http->run;

my $https = WsTest->new;
$https->make_cert;
$https->config_from_file('nginx-conf/tls.conf');
my ($rc, $out) = $https->nginx_t;
is $rc, 0, 'nginx-conf/tls.conf passes nginx -t' or diag $out;
$https->run;

my @pages = (
    # Both configurations have `websocket_deflate on` (t/deflate_browser.t
    # covers a location without it).
    { t => $http,  url => 'http://127.0.0.1:' . $http->port . '/',
      ws => 'ws://127.0.0.1:' . $http->port . '/echo',
      ext => 'permessage-deflate; server_no_context_takeover; client_no_context_takeover' },
    { t => $https, url => 'https://127.0.0.1:' . $https->port . '/',
      ws => 'wss://127.0.0.1:' . $https->port . '/echo',
      ext => 'permessage-deflate; server_no_context_takeover; client_no_context_takeover' },
);

my ($outdir, @results) = $http->run_browser('demo.js',
    map { ($_->{url}, $_->{t}->prefix . '/logs/nginx.pid') } @pages);

for my $i (0 .. $#pages) {
    my $p = $pages[$i];
    my $r = (grep { ($_->{url} // '') eq $p->{url} } @results)[0] // {};
    my $u = $p->{url};
    is_deeply $r->{errors} // ['no result'], [], "$u: every step of the page worked"
        or diag explain $r;
    is $r->{title}, 'ngx-websocket echo', "$u: the demo page loaded";
    is $r->{extensions}, $p->{ext}, "$u: the page shows the negotiated extension ($p->{ext})";
    my $log = $r->{log} // '';
    like $log, qr/^connected to \Q$p->{ws}\E$/m, "$u: the page connected to $p->{ws}";
    like $r->{close_reload} // '', qr/^code 1001, reason "server shutting down" \((?:not )?clean\)$/,
        "$u: on reload the page shows the server's close 1001 and its reason";
    # The exiting worker lingers for the client's answering close, so the
    # browser sees a clean close, not a reset.
    like $r->{close_reload} // '', qr/\(clean\)$/, "$u: the close on reload is clean";
    like $log, qr/^echo: text "hello, nginx \x{2713}" \(match\)$/m,
        "$u: the text echo is shown and matches";
    like $log, qr/^echo: binary, 16 bytes \(match\)$/m, "$u: the binary echo matches";
    like $log, qr/^echo: text, 200000 chars \(match\)$/m, "$u: the generated 200000-byte echo matches";
    unlike $log, qr/MISMATCH|^error$/m, "$u: no mismatch or error on the page";
    is $r->{close_disconnect}, 'code 1000 (clean)', "$u: Disconnect shows close code 1000, clean";
    is $r->{status}, 'disconnected', "$u: the page ends disconnected";
    like $r->{body} // '', qr/close: code 1000 \(clean\)/, "$u: the close code is in the page text";
    is_deeply $r->{console_errors} // [], [], "$u: no errors in the browser console";

    # The screenshot: a real PNG of a rendered page, not an empty canvas.
    my $png = $r->{screenshot} // "$outdir/page-" . ($i + 1) . '.png';
    my $data = WsTest::_slurp($png);
    ok length($data) > 20_000, "$u: screenshot $png saved (" . length($data) . ' bytes)';
    my ($w, $h) = length $data >= 24 && substr($data, 0, 8) eq "\x89PNG\r\n\x1a\n"
        ? unpack('NN', substr($data, 16, 8)) : (0, 0);
    ok $w == 900 && $h >= 500, "$u: it is a PNG of the 900 px wide page (${w}x$h)";
    if (my $save = $ENV{TEST_BROWSER_SAVE}) {
        make_path($save);
        copy($png, "$save/page-" . ($i + 1) . '.png') or diag "copy to $save: $!";
    }

    # The server side saw it too: two WebSocket connections, one closed by
    # the reload.
    my $t = $p->{t};
    my $n = 0;
    $t->wait_for_log(sub { $n = () = $t->access_log =~ /"GET \/echo HTTP\/1\.1" 101 /g; $n >= 2 },
        log => 'access');
    is $n, 2, "$u: nginx logged two WebSocket connections (101)";
    ok $t->wait_for_log(qr/\[info\].*server shutting down/),
        "$u: nginx logged the close on reload";
}

$http->stop;
$https->stop;
done_testing;
