# WsTest - a small harness for the ngx-websocket integration tests.
#
# One WsTest object is one nginx instance under a private prefix
# (t/servroot-<pid>-XXXXXX) listening on a port picked at runtime on
# 127.0.0.1. It writes the config, starts nginx, talks raw HTTP and raw
# WebSocket frames to it, and stops it by the pid in its pid file. Stopping
# checks the error log for [alert]/[crit]/[emerg] and worker crashes as a test
# assertion. See t/README.md for the API.
#
# Everything here uses core Perl only, and every wait has a deadline.

package WsTest;

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Digest::SHA qw(sha1);
use Errno qw(EAGAIN EINTR);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use IO::Select;
use JSON::PP ();
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64);
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Test::More ();
use Time::HiRes qw(time sleep);

use Exporter 'import';
our @EXPORT_OK = qw(ws_frame ws_accept ws_key close_payload);

use constant WS_GUID => '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

our $ROOT = abs_path(dirname(__FILE__) . '/../..');

# Writing to a socket the server has closed must be an error return, not a
# signal that kills the test process.
$SIG{PIPE} = 'IGNORE';

my @INSTANCES;    # every WsTest created; END stops the ones still running

sub new {
    my ($class, %opt) = @_;

    my $module = $ENV{TEST_NGINX_MODULE};
    unless ($opt{no_module}) {
        # No module means nothing here can pass; say so instead of skipping.
        die "TEST_NGINX_MODULE is not set: it must name the module .so "
            . "(run the suite through scripts/test)\n"
            unless defined $module && length $module;
        die "TEST_NGINX_MODULE=$module: no such file\n" unless -f $module;
        $module = abs_path($module);
    }

    my $binary = $ENV{TEST_NGINX_BINARY}
        // "$ROOT/build/nginx-1.28.3/objs/nginx";
    die "TEST_NGINX_BINARY=$binary is not executable\n" unless -x $binary;

    # A hang anywhere must end the file, not the whole CI job.
    $SIG{ALRM} = sub { die "watchdog: test file took too long\n" };
    alarm($ENV{TEST_NGINX_WATCHDOG} || 300);

    my $prefix = tempdir("servroot-$$-XXXXXX", DIR => "$ROOT/t");
    # When the master runs as root the worker runs as nobody; let it reach
    # the prefix (temp directories are created inside it).
    chmod 0755, $prefix;
    make_path("$prefix/logs", "$prefix/conf");

    my $self = bless {
        prefix  => $prefix,
        binary  => $binary,
        module  => $opt{no_module} ? undef : $module,
        target  => $ENV{TEST_NGINX_TARGET} // 'nginx',
        port    => free_port(),
        running => 0,
        socks   => [],
    }, $class;
    push @INSTANCES, $self;
    return $self;
}

sub prefix { $_[0]{prefix} }
sub port   { $_[0]{port} }
sub target { $_[0]{target} }

# A second free port, other than port(), picked on first use (%%PORT2%%).
sub port2 {
    my ($self) = @_;
    while (!$self->{port2} || $self->{port2} == $self->{port}) {
        $self->{port2} = free_port();
    }
    return $self->{port2};
}

# A self-signed certificate for localhost and 127.0.0.1 with its key, made
# with openssl into conf/ (%%CERT%%, %%KEY%%). Returns (cert, key) paths;
# dies with openssl's output if it fails.
sub make_cert {
    my ($self) = @_;
    my ($cert, $key) = ("$self->{prefix}/conf/cert.pem", "$self->{prefix}/conf/key.pem");
    my ($rc, $out) = $self->run_cmd('openssl', 'req', '-x509', '-nodes', '-days', '2',
        '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout', $key, '-out', $cert);
    die "openssl could not make a certificate (exit $rc):\n$out\n" if $rc != 0 || !-s $cert;
    return ($cert, $key);
}

# A port nobody listens on right now: let the kernel pick one, then free it.
# run() retries with a fresh port if someone takes it in between.
sub free_port {
    my $s = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
        Listen    => 1,           ReuseAddr => 1,
    ) or die "cannot bind 127.0.0.1:0: $!\n";
    my $port = $s->sockport;
    close $s;
    return $port;
}

### configuration ###########################################################

sub _globals {
    my ($self) = @_;
    my $p = $self->{prefix};
    my $load = $self->{module} ? "load_module $self->{module};\n" : '';
    return $load . <<"EOF";
pid $p/logs/nginx.pid;
error_log $p/logs/error.log info;
daemon on;
master_process on;
worker_processes 1;
EOF
}

sub _globals_http {
    my ($self) = @_;
    my $p = $self->{prefix};
    # Debian's binary has absolute compiled-in temp paths under /var/lib;
    # keep everything inside the prefix.
    return <<"EOF";
access_log $p/logs/access.log;
client_body_temp_path $p/client_body_temp;
proxy_temp_path $p/proxy_temp;
fastcgi_temp_path $p/fastcgi_temp;
uwsgi_temp_path $p/uwsgi_temp;
scgi_temp_path $p/scgi_temp;
EOF
}

sub _render {
    my ($self, $text) = @_;
    my %v = (
        TEST_GLOBALS      => $self->_globals,
        TEST_GLOBALS_HTTP => $self->_globals_http,
        PORT              => $self->{port},
        PREFIX            => $self->{prefix},
        # The example configs in nginx-conf/ name these two themselves.
        MODULE            => $self->{module} // '',
        HTML              => "$ROOT/nginx-conf/html",
        # A second free port (proxy.conf's back server) and the TLS files
        # that make_cert writes (tls.conf).
        PORT2             => $self->port2,
        CERT              => "$self->{prefix}/conf/cert.pem",
        KEY               => "$self->{prefix}/conf/key.pem",
    );
    # Comment lines are left alone, so example configs can mention the
    # placeholders in their explanations.
    my @lines = split /^/, $text;
    for (@lines) {
        next if /^\s*#/;
        s/%%(TEST_GLOBALS_HTTP|TEST_GLOBALS|PORT2|PORT|PREFIX|MODULE|HTML|CERT|KEY)%%/$v{$1}/g;
        croak "unknown placeholder $1 in config" if /(%%\w+%%)/;
    }
    return join '', @lines;
}

# Writes conf/nginx.conf from a template with %%TEST_GLOBALS%%,
# %%TEST_GLOBALS_HTTP%%, %%PORT%% and %%PREFIX%% placeholders.
sub write_config {
    my ($self, $template) = @_;
    $self->{template} = $template;
    my $file = "$self->{prefix}/conf/nginx.conf";
    open my $fh, '>', $file or die "$file: $!\n";
    print $fh $self->_render($template);
    close $fh or die "$file: $!\n";
    return $file;
}

# The config most tests share: `location /ws { websocket_echo; <location> }`
# and `location / { return 200 "plain"; }`. Options add directives:
# http => '...', server => '...', location => '...', listen => '...'
# (extra listen parameters).
sub echo_config {
    my (%o) = @_;
    $o{$_} //= '' for qw(http server location listen);
    return <<"EOF";
%%TEST_GLOBALS%%
events { worker_connections 1024; }
http {
    %%TEST_GLOBALS_HTTP%%
    $o{http}
    server {
        listen 127.0.0.1:%%PORT%% $o{listen};
        server_name localhost;
        $o{server}
        location /ws {
            websocket_echo;
            $o{location}
        }
        location / {
            return 200 "plain";
        }
    }
}
EOF
}

# The config the `nginx -t` tests (config.t, deflate_config.t) vary: one
# server with `location /ws { websocket_echo; <location> }` (no_echo => 1
# leaves websocket_echo out), directives spliced in with http => '...',
# server => '...', location => '...'.
sub check_config {
    my (%o) = @_;
    $o{$_} //= '' for qw(http server location);
    my $echo = $o{no_echo} ? '' : 'websocket_echo; ';
    return <<"EOF";
%%TEST_GLOBALS%%
events { worker_connections 64; }
http {
    %%TEST_GLOBALS_HTTP%%
    $o{http}
    server {
        listen 127.0.0.1:%%PORT%%;
        $o{server}
        location /ws { $echo$o{location} }
    }
}
EOF
}

# Same, from a file relative to the repository root (nginx-conf/*.conf).
sub config_from_file {
    my ($self, $rel) = @_;
    my $file = $rel =~ m{^/} ? $rel : "$ROOT/$rel";
    open my $fh, '<', $file or die "$file: $!\n";
    local $/;
    my $text = <$fh>;
    return $self->write_config($text);
}

### running nginx ##########################################################

# Runs a command with stdout+stderr into a file (a pipe would be held open
# by the daemonised master), waits for it (at most 90 s, then KILL).
# Returns (exit code, output).
sub run_cmd {
    my ($self, @cmd) = @_;
    my $out = "$self->{prefix}/logs/cmd.out";
    my $pid = fork // die "fork: $!\n";
    if (!$pid) {
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(126);
        exec @cmd or POSIX::_exit(127);
    }
    my $deadline = time + 90;
    my $rc;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) { $rc = $? >> 8; $rc = 128 + ($? & 127) if $? & 127; last }
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            $rc = -1;
            last;
        }
        sleep 0.02;
    }
    return ($rc, _slurp($out));
}

sub _nginx_cmd {
    my ($self, @extra) = @_;
    return ($self->{binary}, '-p', "$self->{prefix}/", '-c', 'conf/nginx.conf',
        '-e', 'logs/error.log', @extra);
}

# `nginx -t` on the current config: returns (exit code, output).
sub nginx_t {
    my ($self) = @_;
    return $self->run_cmd($self->_nginx_cmd('-t'));
}

# Test assertions: `nginx -t` passes on $conf and says so (two assertions).
sub nginx_t_ok {
    my ($self, $name, $conf) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    $self->write_config($conf);
    my ($rc, $out) = $self->nginx_t;
    Test::More::is($rc, 0, "nginx -t passes: $name") or Test::More::diag($out);
    Test::More::like($out, qr/test is successful/, "nginx -t reports success: $name");
}

# Test assertions: `nginx -t` fails on $conf with an [emerg] naming
# $directive, and not as an unknown directive (four assertions).
sub nginx_t_refuses {
    my ($self, $name, $directive, $conf) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    $self->write_config($conf);
    my ($rc, $out) = $self->nginx_t;
    Test::More::isnt($rc, 0, "nginx -t fails: $name");
    Test::More::like($out, qr/\[emerg\]/, "$name: [emerg] in the output");
    Test::More::like($out, qr/\b\Q$directive\E\b/, "$name: the output names $directive")
        or Test::More::diag($out);
    Test::More::unlike($out, qr/unknown directive/, "$name: the directive is known (module loaded)")
        or Test::More::diag($out);
}

# Starts nginx; dies (after a failed assertion showing the error log) if it
# does not come up and accept TCP connections within 10 s.
sub run {
    my ($self) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    croak "write_config first" unless defined $self->{template};
    my $pidfile = "$self->{prefix}/logs/nginx.pid";
    for my $attempt (1 .. 3) {
        unlink $pidfile;
        my ($rc, $out) = $self->run_cmd($self->_nginx_cmd);
        if ($rc != 0) {
            # The free port was taken between free_port() and bind(): retry.
            if ($attempt < 3 && $out =~ /Address already in use/) {
                $self->{port} = free_port();
                delete $self->{port2};
                $self->write_config($self->{template});
                next;
            }
            Test::More::fail("nginx ($self->{target}) starts");
            Test::More::diag("exit code $rc\n$out\n--- error.log:\n" . $self->error_log);
            die "nginx did not start\n";
        }
        last;
    }
    my $deadline = time + 10;
    my $pid;
    while (time < $deadline) {
        $pid = _read_pid($pidfile) and last;
        sleep 0.02;
    }
    $self->{running} = 1 if $pid;
    $self->{master} = $pid;
    unless ($pid && $self->_wait_accept($deadline)) {
        Test::More::fail("nginx ($self->{target}) accepts on port $self->{port}");
        Test::More::diag("--- error.log:\n" . $self->error_log);
        die "nginx is not accepting connections\n";
    }
    # The listening socket is the master's: the kernel completes a handshake
    # before the master has forked its worker, and on a loaded machine the
    # worker may not exist yet. Tests that measure the worker need its pid.
    # (A list assignment: worker_pids returns a sorted list, and sort has
    # no defined result in scalar context.)
    while (!(() = $self->worker_pids)) {
        if (time > $deadline) {
            Test::More::fail("nginx ($self->{target}) started a worker process");
            Test::More::diag("--- error.log:\n" . $self->error_log);
            die "nginx has no worker process\n";
        }
        sleep 0.01;
    }
    return $self;
}

sub _wait_accept {
    my ($self, $deadline) = @_;
    while (time < $deadline) {
        my $s = IO::Socket::INET->new(
            PeerAddr => '127.0.0.1', PeerPort => $self->{port},
            Proto => 'tcp', Timeout => 1,
        );
        if ($s) { close $s; return 1 }
        sleep 0.05;
    }
    return 0;
}

sub _read_pid {
    my ($file) = @_;
    open my $fh, '<', $file or return undef;
    my $pid = <$fh>;
    return ($pid && $pid =~ /^(\d+)/) ? $1 : undef;
}

# Gone, or a zombie nobody reaps (PID 1 in a container may not).
sub _alive {
    my ($pid) = @_;
    return 0 unless kill 0, $pid;
    my $stat = _slurp("/proc/$pid/stat");
    return 0 if $stat =~ /\)\s+Z\s/;
    return 1;
}

sub master_pid { $_[0]{master} }

# Pids of the master's children (the worker with worker_processes 1).
sub worker_pids {
    my ($self) = @_;
    my $m = $self->{master} or return ();
    my @pids;
    opendir my $d, '/proc' or return ();
    for my $pid (grep { /^\d+$/ } readdir $d) {
        my $stat = _slurp("/proc/$pid/stat");
        push @pids, $pid if $stat =~ /\)\s+(\S)\s+(\d+)\s/ && $2 == $m && $1 ne 'Z';
    }
    return sort { $a <=> $b } @pids;
}

# VmRSS of a process in kB (undef if unreadable).
sub rss_kb {
    my ($self, $pid) = @_;
    return _slurp("/proc/$pid/status") =~ /^VmRSS:\s+(\d+)\s+kB/m ? $1 : undef;
}

# Stops nginx (QUIT, bounded wait, then TERM/KILL the master pid only) and
# asserts the error log is clean. Safe to call twice.
sub stop {
    my ($self, %opt) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return unless $self->{running};
    $self->{running} = 0;

    # Open client connections would keep a gracefully exiting worker alive;
    # the tests are done with them by now.
    for my $s (@{ $self->{socks} }) { close $s if $s && defined fileno $s }
    $self->{socks} = [];

    my $pid = _read_pid("$self->{prefix}/logs/nginx.pid") // $self->{master};
    my $exited = 0;
    if ($pid) {
        kill 'QUIT', $pid;
        my $deadline = time + 10;
        while (time < $deadline) { last unless _alive($pid); sleep 0.05 }
        $exited = !_alive($pid);
        unless ($exited) {
            kill 'TERM', $pid;
            my $d2 = time + 5;
            while (time < $d2) { last unless _alive($pid); sleep 0.05 }
            kill 'KILL', $pid if _alive($pid);
        }
    }
    return if $opt{quiet};

    my $label = $self->{target};
    Test::More::ok($exited, "nginx ($label) exits on QUIT within 10 s");
    my @bad = grep { /\[(?:alert|crit|emerg)\]/ || /exited on signal/ }
        split /\n/, $self->error_log;
    Test::More::ok(!@bad, "error log has no alert/crit/emerg and no worker crash ($label)")
        or Test::More::diag(join "\n", @bad);
}

sub error_log  { _slurp("$_[0]{prefix}/logs/error.log") }
sub access_log { _slurp("$_[0]{prefix}/logs/access.log") }

# Polls a log until a line matches, with a deadline (nginx writes logs
# asynchronously relative to what the client sees). $re is a regex or a
# code ref called with each line. Returns the matching line.
sub wait_for_log {
    my ($self, $re, %opt) = @_;
    my $which = $opt{log} // 'error';
    my $deadline = time + ($opt{timeout} // 5);
    while (1) {
        my $text = $which eq 'access' ? $self->access_log : $self->error_log;
        for my $line (split /\n/, $text) {
            return $line if ref $re eq 'CODE' ? $re->($line) : $line =~ $re;
        }
        return undef if time > $deadline;
        sleep 0.05;
    }
}

sub _slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    my $t = <$fh>;
    return $t // '';
}

END {
    my $rc = $?;
    for my $t (@INSTANCES) {
        next unless $t->{prefix};
        if ($t->{running}) {
            # The test died before stop(): clean up, no more assertions.
            $t->stop(quiet => 1);
            my @bad = grep { /\[(?:alert|crit|emerg)\]/ || /exited on signal/ }
                split /\n/, $t->error_log;
            print STDERR "# error log of $t->{prefix}:\n# $_\n" for @bad;
        }
        my $passing = Test::More->builder->is_passing && $rc == 0;
        if ($ENV{TEST_NGINX_LEAVE} || !$passing) {
            print STDERR "# nginx prefix kept: $t->{prefix}\n";
        } else {
            remove_tree($t->{prefix});
        }
    }
    $? = $rc;
}

### raw HTTP ###############################################################

# A TCP connection to the server (TCP_NODELAY so that small writes leave as
# separate segments).
sub connect {
    my ($self) = @_;
    my $s = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1', PeerPort => $self->{port},
        Proto => 'tcp', Timeout => 5,
    ) or die "connect 127.0.0.1:$self->{port}: $!\n";
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
    binmode $s;
    push @{ $self->{socks} }, $s;
    weaken($self->{socks}[-1]);
    return $s;
}

# Writes all bytes with a deadline; false on error or timeout.
sub write_all {
    my ($sock, $data, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    my $sel = IO::Select->new($sock);
    my $off = 0;
    while ($off < length $data) {
        my $left = $deadline - time;
        return 0 if $left <= 0;
        next unless $sel->can_write($left);
        my $n = syswrite($sock, $data, length($data) - $off, $off);
        if (!defined $n) { next if $! == EAGAIN || $! == EINTR; return 0 }
        $off += $n;
    }
    return 1;
}

# Reads more bytes into $$buf: 1 = got data, 0 = EOF (or reset),
# undef = deadline passed.
sub read_more {
    my ($sock, $buf, $deadline) = @_;
    my $sel = IO::Select->new($sock);
    while (1) {
        my $left = $deadline - time;
        return undef if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread($sock, $$buf, 262144, length $$buf);
        if (!defined $n) { next if $! == EAGAIN || $! == EINTR; return 0 }
        return $n ? 1 : 0;
    }
}

# Sends a raw request (on a new connection unless sock => $s) and reads one
# response: headers, then Content-Length / chunked / until EOF; none for 1xx,
# 204, 304 and HEAD. Returns { status, status_line, version, headers
# (lowercased names, repeats joined with ", "), header_list, body, raw, sock,
# eof, complete }.
sub http {
    my ($self, $request, %opt) = @_;
    my $sock = $opt{sock} // $self->connect;
    write_all($sock, $request, 5);
    my $buf = '';
    my $r = read_http_response($sock, \$buf, time + ($opt{timeout} // 5),
        head => scalar($request =~ /^HEAD /));
    $r->{sock} = $sock;
    $r->{rest} = $buf;
    return $r;
}

sub read_http_response {
    my ($sock, $buf, $deadline, %opt) = @_;
    my $r = { status => undef, headers => {}, header_list => [], body => '', raw => '' };
    while ($$buf !~ /\r\n\r\n/) {
        my $got = read_more($sock, $buf, $deadline);
        if (!$got) { $r->{eof} = defined $got; $r->{raw} = $$buf; return $r }
    }
    my $end = index($$buf, "\r\n\r\n") + 4;
    my $head = substr($$buf, 0, $end, '');
    $r->{raw} = $head;
    my ($sl, @lines) = split /\r\n/, $head;
    $r->{status_line} = $sl;
    ($r->{version}, $r->{status}) = $sl =~ m{^(HTTP/\d\.\d) (\d{3})};
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
        push @{ $r->{header_list} }, [$k, $v];
        my $lk = lc $k;
        $r->{headers}{$lk} = exists $r->{headers}{$lk} ? "$r->{headers}{$lk}, $v" : $v;
    }
    my $st = $r->{status} // 0;
    if ($st < 200 || $st == 204 || $st == 304 || $opt{head}) {
        $r->{complete} = 1;
    } elsif (defined(my $cl = $r->{headers}{'content-length'})) {
        while (length $$buf < $cl) {
            my $got = read_more($sock, $buf, $deadline);
            if (!$got) { $r->{eof} = defined $got; last }
        }
        $r->{body} = substr($$buf, 0, $cl, '');
        $r->{complete} = length $r->{body} == $cl;
    } elsif (($r->{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
        while (1) {
            if ($$buf =~ s/^([0-9a-fA-F]+)[^\r]*\r\n//) {
                my $len = hex $1;
                my $got = 1;
                $got = read_more($sock, $buf, $deadline) while $got && length $$buf < $len + 2;
                if (!$got) { $r->{eof} = defined $got; last }
                if ($len == 0) { $r->{complete} = 1; last }
                $r->{body} .= substr($$buf, 0, $len + 2, '');
                chop $r->{body}; chop $r->{body};
                next;
            }
            my $got = read_more($sock, $buf, $deadline);
            if (!$got) { $r->{eof} = defined $got; last }
        }
    } else {
        while (1) {
            my $got = read_more($sock, $buf, $deadline);
            if (!$got) { $r->{eof} = defined $got; last }
        }
        $r->{body} = $$buf;
        $$buf = '';
        $r->{complete} = $r->{eof};
    }
    $r->{raw} .= $r->{body};
    return $r;
}

# After a response: does the server close the connection within the deadline
# without sending more? 1 = EOF, 0 = sent data, undef = still open.
sub wait_eof {
    my ($sock, $timeout, $buf) = @_;
    my $b = '';
    $buf //= \$b;
    my $deadline = time + ($timeout // 5);
    while (1) {
        my $got = read_more($sock, $buf, $deadline);
        return undef unless defined $got;
        return 0 if $got && length $$buf;
        return 1 unless $got;
    }
}

### WebSocket ###############################################################

sub ws_key { encode_base64(join('', map { chr int rand 256 } 1 .. 16), '') }

sub ws_accept { encode_base64(sha1($_[0] . WS_GUID), '') }

# The raw upgrade request for $path; %h adds or replaces headers (a value of
# undef drops a default header). Returns ($bytes, $key).
sub ws_request {
    my ($self, $path, %h) = @_;
    my $key = exists $h{'Sec-WebSocket-Key'} ? $h{'Sec-WebSocket-Key'} : ws_key();
    my @hdr = (
        [Host                    => "127.0.0.1:$self->{port}"],
        [Upgrade                 => 'websocket'],
        [Connection              => 'Upgrade'],
        ['Sec-WebSocket-Key'     => $key],
        ['Sec-WebSocket-Version' => '13'],
    );
    for my $k (sort keys %h) {
        next if $k eq 'Sec-WebSocket-Key';
        @hdr = grep { lc $_->[0] ne lc $k } @hdr;
        push @hdr, [$k => $h{$k}] if defined $h{$k};
    }
    @hdr = grep { defined $_->[1] } @hdr;
    my $req = "GET $path HTTP/1.1\r\n" . join('', map { "$_->[0]: $_->[1]\r\n" } @hdr) . "\r\n";
    return ($req, $key);
}

# Opens a WebSocket: sends the upgrade (plus the bytes in option -after in the
# same write), reads the 101, verifies Sec-WebSocket-Accept. Dies on failure.
# Returns a WsTest::Conn; bytes past the 101 stay in its buffer.
sub ws_connect {
    my ($self, $path, %h) = @_;
    my $after = delete $h{-after} // '';
    my ($req, $key) = $self->ws_request($path // '/ws', %h);
    my $sock = $self->connect;
    write_all($sock, $req . $after, 5) or die "cannot send the upgrade request\n";
    my $buf = '';
    my $r = read_http_response($sock, \$buf, time + 5);
    my $want = ws_accept($key);
    unless (($r->{status} // 0) == 101
        && ($r->{headers}{'sec-websocket-accept'} // '') eq $want)
    {
        die "WebSocket upgrade failed: " . ($r->{raw} ne '' ? $r->{raw} : '(no response)') . "\n";
    }
    return WsTest::Conn->new($sock, $buf, $r);
}

# Raw client frame bytes.
#   opcode (1), payload (''), fin (1), rsv (0; 3 bits: 4=RSV1 2=RSV2 1=RSV3),
#   mask (1), mask_key (random 4 bytes), len_override (lie about the length),
#   len_bits (force 7/16/64-bit length encoding).
sub ws_frame {
    my (%a) = @_;
    my $payload = $a{payload} // '';
    my $op   = $a{opcode} // 1;
    my $fin  = $a{fin} // 1;
    my $mask = $a{mask} // 1;
    my $len  = $a{len_override} // length $payload;
    my $bits = $a{len_bits} // ($len < 126 ? 7 : $len <= 0xFFFF ? 16 : 64);
    my $m    = $mask ? 0x80 : 0;
    my $out  = chr(($fin ? 0x80 : 0) | ((($a{rsv} // 0) & 7) << 4) | ($op & 0x0F));
    if    ($bits == 7)  { $out .= chr($m | $len) }
    elsif ($bits == 16) { $out .= chr($m | 126) . pack('n', $len) }
    else                { $out .= chr($m | 127) . pack('Q>', $len) }
    if ($mask) {
        my $key = $a{mask_key} // pack('N', int rand 2**32);
        $out .= $key;
        $payload ^= substr($key x (int(length($payload) / 4) + 1), 0, length $payload)
            if length $payload;
    }
    return $out . $payload;
}

# Close frame payload: 2-byte code + reason.
sub close_payload { my ($code, $reason) = @_; pack('n', $code) . ($reason // '') }

package WsTest::Conn;

use strict;
use warnings;
use Errno qw(EAGAIN EINTR);
use IO::Select;
use Test::More ();
use Time::HiRes qw(time);

sub new {
    my ($class, $sock, $buf, $response) = @_;
    return bless { sock => $sock, buf => $buf, response => $response }, $class;
}

sub sock     { $_[0]{sock} }
sub response { $_[0]{response} }

# Sends bytes, reading whatever the server sends meanwhile into the buffer,
# so that a large write cannot deadlock against a server that echoes while
# we are still writing (no_read => 1 turns that off). False on error (peer
# gone) or timeout (default 20 s).
sub send_raw {
    my ($self, $data, %opt) = @_;
    my $sock = $self->{sock};
    my $deadline = time + ($opt{timeout} // 20);
    $sock->blocking(0);
    my $off = 0;
    my $ok = 1;
    while ($off < length $data) {
        my $left = $deadline - time;
        if ($left <= 0) { $ok = 0; last }
        my $reading = !$opt{no_read} && !$self->{eof};
        my ($r, $w) = IO::Select->select($reading ? IO::Select->new($sock) : undef,
            IO::Select->new($sock), undef, $left);
        if ($reading && $r && @$r) {
            my $n = sysread($sock, $self->{buf}, 262144, length $self->{buf});
            $self->{eof} = 1 if defined $n && $n == 0;
            $self->{eof} = $self->{reset} = 1 if !defined $n && $! != EAGAIN && $! != EINTR;
        }
        if ($w && @$w) {
            my $n = syswrite($sock, $data, length($data) - $off, $off);
            if (!defined $n) {
                next if $! == EAGAIN || $! == EINTR;
                $ok = 0;
                last;
            }
            $off += $n;
        }
    }
    $sock->blocking(1);
    $self->{sent} += $off;
    return $ok;
}

sub send_frame { my ($self, %a) = @_; $self->send_raw(WsTest::ws_frame(%a)) }

sub _fill {
    my ($self, $deadline) = @_;
    return 0 if $self->{eof};
    my $sel = IO::Select->new($self->{sock});
    while (1) {
        my $left = $deadline - time;
        return undef if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread($self->{sock}, $self->{buf}, 262144, length $self->{buf});
        if (!defined $n) {
            next if $! == EAGAIN || $! == EINTR;
            $self->{eof} = $self->{reset} = 1;
            return 0;
        }
        if ($n == 0) { $self->{eof} = 1; return 0 }
        return 1;
    }
}

# One server frame: { fin, rsv, opcode, masked, len, payload }; undef on
# timeout; { eof => 1, reset => bool, partial => bytes } on EOF.
sub read_frame {
    my ($self, %opt) = @_;
    my $deadline = time + ($opt{timeout} // 5);
    while (1) {
        my $f = $self->_parse;
        return $f if $f;
        my $got = $self->_fill($deadline);
        next if $got;
        return undef unless defined $got;
        my $partial = length $self->{buf};
        return { eof => 1, reset => $self->{reset} ? 1 : 0, partial => $partial };
    }
}

sub _parse {
    my ($self) = @_;
    my $b = \$self->{buf};
    return undef if length $$b < 2;
    my ($b0, $b1) = unpack 'CC', $$b;
    my $len = $b1 & 0x7F;
    my $hl  = 2;
    if ($len == 126) {
        return undef if length $$b < 4;
        $len = unpack 'n', substr($$b, 2, 2);
        $hl = 4;
    } elsif ($len == 127) {
        return undef if length $$b < 10;
        $len = unpack 'Q>', substr($$b, 2, 8);
        $hl = 10;
    }
    my $masked = $b1 & 0x80;
    $hl += 4 if $masked;
    return undef if length $$b < $hl + $len;
    my $key = $masked ? substr($$b, $hl - 4, 4) : undef;
    substr($$b, 0, $hl, '');
    my $payload = substr($$b, 0, $len, '');
    $payload ^= substr($key x (int($len / 4) + 1), 0, $len) if $masked && $len;
    return {
        fin     => ($b0 >> 7) & 1,
        rsv     => ($b0 >> 4) & 7,
        opcode  => $b0 & 0x0F,
        masked  => $masked ? 1 : 0,
        len     => $len,
        payload => $payload,
    };
}

# For callers doing their own reads (backpressure.t): the receive buffer,
# and the next complete frame in it (no I/O; undef if none yet).
sub buffer_ref { \$_[0]{buf} }
sub take_frame { $_[0]->_parse }

# One whole data message, reassembled from fragments: { opcode, payload,
# fragments, control => [ping/pong frames seen meanwhile], masked (any frame
# masked), rsv (OR of rsv bits), bad (framing violations) }. A close frame or
# EOF before the message completes is returned as is (opcode 8 / eof);
# undef on timeout.
sub read_message {
    my ($self, %opt) = @_;
    my $deadline = time + ($opt{timeout} // 10);
    my $m;
    my @control;
    while (1) {
        my $f = $self->read_frame(timeout => $deadline - time);
        return undef unless $f;
        if ($f->{eof} || $f->{opcode} == 8) { $f->{control} = \@control; return $f }
        if ($f->{opcode} == 9 || $f->{opcode} == 10) { push @control, $f; next }
        if (!$m) {
            $m = { opcode => $f->{opcode}, payload => '', fragments => 0, masked => 0, rsv => 0,
                   bad => [], control => \@control };
            push @{ $m->{bad} }, "message starts with opcode $f->{opcode}"
                unless $f->{opcode} == 1 || $f->{opcode} == 2;
        } elsif ($f->{opcode} != 0) {
            push @{ $m->{bad} }, "opcode $f->{opcode} inside a fragmented message";
        }
        $m->{payload} .= $f->{payload};
        $m->{fragments}++;
        $m->{masked} ||= $f->{masked};
        $m->{rsv} |= $f->{rsv};
        return $m if $f->{fin};
    }
}

# Reads until a close frame. Returns { closed (got one), code (undef if the
# payload was empty), reason, len, frame, skipped => [frames before it],
# eof (EOF followed within the timeout), reset, timeout }.
sub expect_close {
    my ($self, %opt) = @_;
    my $timeout = $opt{timeout} // 5;
    my $deadline = time + $timeout;
    my $c = { closed => 0, skipped => [] };
    while (1) {
        my $f = $self->read_frame(timeout => $deadline - time);
        if (!$f)         { $c->{timeout} = 1; return $c }
        if ($f->{eof})   { $c->{eof} = 1; $c->{reset} = $f->{reset}; return $c }
        if ($f->{opcode} != 8) { push @{ $c->{skipped} }, $f; next }
        $c->{closed} = 1;
        $c->{frame}  = $f;
        $c->{len}    = length $f->{payload};
        if ($c->{len} >= 2) {
            $c->{code}   = unpack 'n', $f->{payload};
            $c->{reason} = substr($f->{payload}, 2);
        }
        last;
    }
    # Nothing may follow a close frame but the end of the connection.
    my $after = $self->read_frame(timeout => $timeout);
    if (!$after) { $c->{timeout} = 1 }
    elsif ($after->{eof}) { $c->{eof} = 1; $c->{reset} = $after->{reset}; $c->{trailing} = $after->{partial} }
    else { $c->{after} = $after }
    return $c;
}

# Test assertion: the server closes with $code (undef = empty close payload),
# sends nothing else before or after it, and then closes TCP.
sub close_ok {
    my ($self, $code, $name, %opt) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $c = $self->expect_close(%opt);
    my @why;
    push @why, 'no close frame' . ($c->{eof} ? ' (EOF first)' : $c->{timeout} ? ' (timeout)' : '')
        unless $c->{closed};
    if ($c->{closed}) {
        my $f = $c->{frame};
        my $got = $c->{code} // 'empty';
        push @why, "close code $got, want " . ($code // 'empty')
            if (defined $code ? ($c->{code} // -1) != $code : $c->{len} != 0);
        push @why, 'close frame masked' if $f->{masked};
        push @why, 'close frame without FIN' unless $f->{fin};
        push @why, "close frame with rsv $f->{rsv}" if $f->{rsv};
        push @why, "1-byte close payload" if $c->{len} == 1;
        push @why, 'no EOF after the close frame' . ($c->{after} ? " (got opcode $c->{after}{opcode})" : '')
            unless $c->{eof};
    }
    push @why, scalar(@{ $c->{skipped} }) . ' frame(s) before the close (first opcode '
        . $c->{skipped}[0]{opcode} . ')'
        if @{ $c->{skipped} } && !$opt{allow_skipped};
    my $ok = Test::More->builder->ok(!@why, $name);
    Test::More::diag(join '; ', @why) if @why;
    return wantarray ? ($ok, $c) : $ok;
}

# Test assertion: $payload sent as one frame of $opcode comes back as one
# message with the same opcode and content, unmasked.
sub echo_ok {
    my ($self, $opcode, $payload, $name, %opt) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $sent = $self->send_frame(opcode => $opcode, payload => $payload);
    my $m = $sent ? $self->read_message(%opt) : undef;
    return message_is($m, $opcode, $payload, $name);
}

# Whether $m (from read_message, or from a test's own reader: undef or
# { timeout => 1 } on timeout) is a data message at all, and what is wrong
# with it as an echo of opcode $opcode so far: (1, problems) for a message
# (the opcode, a masked server frame), (0, why) for a timeout, EOF or a
# close frame instead.
sub message_check {
    my ($m, $opcode) = @_;
    return (0, 'no message (timeout)') if !$m || $m->{timeout};
    return (0, 'EOF instead of a message') if $m->{eof};
    return (0, 'close frame instead of a message'
        . (length $m->{payload} >= 2 ? ' (code ' . unpack('n', $m->{payload}) . ')' : ''))
        if $m->{opcode} == 8;
    my @why;
    push @why, "opcode $m->{opcode}, want $opcode" if $m->{opcode} != $opcode;
    push @why, 'server frame masked' if $m->{masked};
    return (1, @why);
}

sub message_is {
    my ($m, $opcode, $payload, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($message, @why) = message_check($m, $opcode);
    if ($message) {
        if ($m->{payload} ne $payload) {
            push @why, sprintf 'payload differs: got %d bytes, want %d%s', length $m->{payload},
                length $payload, length $payload < 64 ? " ('" . _esc($m->{payload}) . "' vs '" . _esc($payload) . "')" : '';
        }
        push @why, "server frame has rsv bits $m->{rsv}" if $m->{rsv};
        push @why, @{ $m->{bad} || [] };
    }
    my $ok = Test::More->builder->ok(!@why, $name);
    Test::More::diag(join '; ', @why) if @why;
    return $ok;
}

sub _esc { my $s = shift; $s =~ s/([^\x20-\x7e])/sprintf '\\x%02X', ord $1/ge; $s }

# Test helper: true if nothing arrives within $timeout seconds.
sub quiet_for {
    my ($self, $timeout) = @_;
    my $f = $self->read_frame(timeout => $timeout);
    return $f ? 0 : 1;
}

sub close { my ($self) = @_; CORE::close($self->{sock}) if defined fileno $self->{sock} }

### helpers for the attack and shutdown tests ##############################
# (t/attack_*.t, t/shutdown.t; also used by scripts/soak.pl)

package WsTest;

use Socket qw(SOL_SOCKET SO_LINGER);

# Open file descriptors of a process: a connection the worker never closes
# shows up here. undef if /proc/<pid>/fd is not readable.
sub fd_count {
    my ($self, $pid) = @_;
    opendir my $d, "/proc/$pid/fd" or return undef;
    return scalar grep { /^\d+$/ } readdir $d;
}

# The worker's open descriptors at rest, for comparing later: waits (up to
# 5 s) until nginx has closed the probe connection run() opened to see that
# the port accepts, so it is not counted.
sub fd_baseline {
    my ($self, $pid) = @_;
    $self->wait_for_log(qr/client closed connection while waiting for request/, timeout => 5);
    return $self->fd_count($pid);
}

# Peak RSS (VmHWM) of a process in kB (undef if unreadable).
sub hwm_kb {
    my ($self, $pid) = @_;
    return _slurp("/proc/$pid/status") =~ /^VmHWM:\s+(\d+)\s+kB/m ? $1 : undef;
}

# Polls $cond->() every $step s (0.05) until it is true or $timeout s pass.
# Returns the true value, or undef at the deadline.
sub wait_until {
    my ($cond, $timeout, $step) = @_;
    my $deadline = time + $timeout;
    while (1) {
        my $v = $cond->();
        return $v if $v;
        return undef if time > $deadline;
        sleep($step // 0.05);
    }
}

# Sends a signal to the master named by the pid file (HUP = reload, QUIT).
sub signal_master {
    my ($self, $sig) = @_;
    my $pid = _read_pid("$self->{prefix}/logs/nginx.pid") // $self->{master};
    return kill $sig, $pid;
}

# Seconds until $pid is gone (or a zombie), undef if still alive after
# $timeout s.
sub wait_exit {
    my ($pid, $timeout) = @_;
    my $t0 = time;
    return wait_until(sub { !_alive($pid) }, $timeout, 0.02) ? time - $t0 : undef;
}

# After a reload: waits (up to $timeout s) until the master has a worker
# that is not in @$old; returns the new worker pids (empty on timeout).
sub wait_new_workers {
    my ($self, $old, $timeout) = @_;
    my %old = map { $_ => 1 } @$old;
    my $new = wait_until(sub {
        my @n = grep { !$old{$_} } $self->worker_pids;
        @n ? \@n : undef;
    }, $timeout // 10);
    return $new ? @$new : ();
}

# Closes a socket with a TCP reset instead of a FIN (SO_LINGER 0).
sub reset_close {
    my ($sock) = @_;
    setsockopt($sock, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    CORE::close($sock);
}

# Number of error log lines matching $re.
sub count_log {
    my ($self, $re, %opt) = @_;
    my $text = ($opt{log} // 'error') eq 'access' ? $self->access_log : $self->error_log;
    return scalar grep { $_ =~ $re } split /\n/, $text;
}

# Error log lines at [alert], [crit] or [emerg], or worker crashes.
sub bad_log_lines {
    my ($self) = @_;
    return grep { /\[(?:alert|crit|emerg)\]/ || /exited on signal/ } split /\n/, $self->error_log;
}

# Makes sure this process may open $n files. Core Perl has no setrlimit,
# so when the soft RLIMIT_NOFILE is lower the test re-executes itself under
# `sh -c 'ulimit -n ...'` (which raises the soft limit up to the hard one).
# Call before WsTest->new. Returns the soft limit now in effect.
sub ensure_nofile {
    my ($n) = @_;
    my $have = POSIX::sysconf(POSIX::_SC_OPEN_MAX()) // 0;
    return $have if $have >= $n || $ENV{WSTEST_NOFILE_RAISED};
    $ENV{WSTEST_NOFILE_RAISED} = 1;
    no warnings 'exec';
    exec 'sh', '-c', 'ulimit -n "$0" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"',
        $n, $^X, (map { "-I$_" } grep { !ref } @INC), $0, @ARGV;
    return $have;    # exec failed: carry on with what we have
}

# True when the suite runs with nginx under valgrind (scripts/memcheck):
# timing and RSS figures then mean little, so tests scale down.
# The `name=value` fields of a log line written with such a log_format
# (values may be "quoted" or [bracketed]), as a hash.
sub log_fields {
    my ($line) = @_;
    my %f;
    while (($line // '') =~ /(\w+)=(?:"([^"]*)"|\[([^\]]*)\]|(\S*))/g) {
        $f{$1} = $2 // $3 // $4;
    }
    return %f;
}

# The browser tests' dependencies: node, Chromium ($ENV{CHROMIUM}, default
# /usr/bin/chromium) and playwright-core in t/browser. One assertion, and a
# BAIL_OUT when something is missing: not a skip, since without them a
# browser test cannot vouch for anything. Returns (t/browser, chromium).
sub browser_prereqs {
    my $dir = "$ROOT/t/browser";
    my $chromium = $ENV{CHROMIUM} // '/usr/bin/chromium';
    my @missing;
    push @missing, 'node' unless grep { -x "$_/node" } split /:/, $ENV{PATH};
    push @missing, $chromium unless -x $chromium;
    push @missing, "$dir/node_modules/playwright-core" unless -d "$dir/node_modules/playwright-core";
    Test::More::ok(!@missing, 'node, Chromium and playwright-core are installed')
        or Test::More::diag("missing: @missing (scripts/lib.sh ensure_browser_deps installs them)");
    Test::More::BAIL_OUT("browser test dependencies missing: @missing") if @missing;
    return ($dir, $chromium);
}

# Runs a browser script of t/browser (`node SCRIPT OUTDIR @args`) with
# OUTDIR under the prefix, removes the Chromium profile afterwards (its last
# processes may still write to it for a moment after node exits), asserts
# that the script ran to the end within 60 s without a fatal error, and
# returns (OUTDIR, the JSON objects it printed one a line).
sub run_browser {
    my ($self, $script, @args) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $outdir = "$self->{prefix}/browser";
    make_path($outdir);
    my $start = time;
    my ($rc, $out) = $self->run_cmd('node', "$ROOT/t/browser/$script", $outdir, @args);
    my $took = time - $start;
    for (1 .. 50) {
        remove_tree("$outdir/profile", { error => \my $err });
        last unless -e "$outdir/profile";
        sleep 0.2;
    }
    Test::More::is($rc, 0, "$script drove Chromium to the end") or Test::More::diag($out);
    Test::More::cmp_ok($took, '<', 60, sprintf 'the browser run took %.1f s', $took);
    my @results = map { my $r = eval { JSON::PP::decode_json($_) }; $r ? $r : () }
        grep { /^\{/ } split /\n/, $out;
    Test::More::ok(!grep({ $_->{fatal} } @results), "no fatal error in $script")
        or Test::More::diag(join "\n", map { $_->{fatal} // () } @results);
    return ($outdir, @results);
}

# A WsTest started on $config (new, write_config, run).
sub start {
    my ($class, $config) = @_;
    my $self = $class->new;
    $self->write_config($config);
    $self->run;
    return $self;
}

# The locations a browser test's server needs for the probe page:
# /probe.html (t/browser/probe.html), and 404 for everything else.
sub probe_page_locations {
    return qq{        location = /probe.html { alias "$ROOT/t/browser/probe.html"; }\n}
        . qq{        location / { return 404; }\n};
}

# Runs a probe script of t/browser (deflate.js, policy.js) on @$cases (one
# { name, page, ws, ... } each, passed as JSON) with run_browser's
# assertions; notes how long each case took. Returns { name => report }.
sub run_probes {
    my ($self, $script, $cases) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my (undef, @results) = $self->run_browser($script, JSON::PP->new->utf8->encode($cases));
    Test::More::note(sprintf '%s: %d ms', $_->{name}, $_->{ms} // -1) for grep { $_->{name} } @results;
    return { map { ($_->{name} // '') => $_ } @results };
}

# Test assertions on the report of case $name in $reports (from
# run_probes): the page ran the probe without an error and finished, then
# $checks->($report, its #result text, its console lines joined); shows the
# report when any of them failed.
sub probe_ok {
    my ($reports, $name, $checks) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = $reports->{$name} // { errors => ['no result'] };
    my $failed = grep { !$_ } Test::More->builder->summary;
    Test::More::is_deeply($r->{errors}, [], "$name: the page ran the probe");
    Test::More::is($r->{status}, 'done', "$name: the probe finished (saw the close event)");
    $checks->($r, $r->{result} // '', join("\n", @{ $r->{console} // [] }));
    Test::More::diag("$name: what the page reported:\n", Test::More::explain($r))
        if grep({ !$_ } Test::More->builder->summary) > $failed;
}

# Runs t/python/$script @args with the Python `websockets` library
# ($ENV{TEST_NGINX_PYTHON}, default python3). Three assertions: websockets
# is importable (not a skip: without it the test cannot vouch for
# anything), the script exits 0, and it printed "DONE $cases cases".
# Returns its output (also noted).
sub run_python {
    my ($self, $script, $cases, @args) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $python = $ENV{TEST_NGINX_PYTHON} // 'python3';
    my ($rc, $out) = $self->run_cmd($python, '-c', 'import websockets; print(websockets.__version__)');
    Test::More::is($rc, 0, 'Python websockets library is importable') or Test::More::diag($out);
    chomp(my $version = $out);
    Test::More::note("websockets $version");
    ($rc, $out) = $self->run_cmd($python, "$ROOT/t/python/$script", @args);
    Test::More::is($rc, 0, "$script exits 0") or Test::More::diag($out);
    Test::More::note($out);
    Test::More::like($out, qr/^DONE \Q$cases\E cases$/m, "$script ran all its cases")
        or Test::More::diag($out);
    return $out;
}

# A config for a test that reads its access log with access_log_cases:
# `log_format $name` of 'case=$arg_case status=$status ' and $fields, and
# a server block for each of @servers (the directives and locations inside
# it), logging in that format, listening on %%PORT%%, then %%PORT2%%.
sub cases_config {
    my ($name, $fields, @servers) = @_;
    my @ports = ('%%PORT%%', '%%PORT2%%');
    croak "cases_config: at most two servers" if @servers > @ports;
    my $config = "%%TEST_GLOBALS%%\nevents { worker_connections 1024; }\nhttp {\n"
        . "    %%TEST_GLOBALS_HTTP%%\n    log_format $name 'case=\$arg_case status=\$status $fields';\n";
    for my $i (0 .. $#servers) {
        $config .= "\n    server {\n        listen 127.0.0.1:$ports[$i];\n"
            . "        access_log %%PREFIX%%/logs/access.log $name;\n\n$servers[$i]    }\n";
    }
    return "$config}\n";
}

# The permessage-deflate config of deflate_python.t and deflate_browser.t:
# one server with these websocket_echo locations,
#   /d15        websocket_deflate on, every other setting at its default
#   /d9         websocket_deflate_server/client_max_window_bits 9
#   /takeover   websocket_deflate_server/client_context_takeover on
#   /takeover9  both takeovers on and both window bits 9
#   /plain      no websocket_deflate
# and its access log in `log_format deflate` (cases_config: case, status,
# extensions=$websocket_extensions, closed_by). server => '...' adds
# directives and locations (a `location /` too) to the server.
sub deflate_config {
    my (%o) = @_;
    return cases_config(deflate => 'extensions="$websocket_extensions" closed_by=$websocket_closed_by',
        <<'EOF' . ($o{server} // ''));
        location = /d15 {
            websocket_echo;
            websocket_deflate on;
        }
        location = /d9 {
            websocket_echo;
            websocket_deflate on;
            websocket_deflate_server_max_window_bits 9;
            websocket_deflate_client_max_window_bits 9;
        }
        location = /takeover {
            websocket_echo;
            websocket_deflate on;
            websocket_deflate_server_context_takeover on;
            websocket_deflate_client_context_takeover on;
        }
        location = /takeover9 {
            websocket_echo;
            websocket_deflate on;
            websocket_deflate_server_context_takeover on;
            websocket_deflate_client_context_takeover on;
            websocket_deflate_server_max_window_bits 9;
            websocket_deflate_client_max_window_bits 9;
        }
        location = /plain {
            websocket_echo;
        }
EOF
}

# The Sec-WebSocket-Extensions strings of the deflate tests: D
# (permessage-deflate), NCT (both no_context_takeover parameters), W9 (both
# window bits 9), offer (what Chromium and Python websockets offer by
# default: permessage-deflate; client_max_window_bits) and answer, the
# exact answer of each location of deflate_config to that offer ('' for
# none: /plain).
sub deflate_strings {
    my $D   = 'permessage-deflate';
    my $NCT = 'server_no_context_takeover; client_no_context_takeover';
    my $W9  = 'server_max_window_bits=9; client_max_window_bits=9';
    return {
        D      => $D,
        NCT    => $NCT,
        W9     => $W9,
        offer  => "$D; client_max_window_bits",
        answer => {
            d15       => "$D; $NCT",
            d9        => "$D; $NCT; $W9",
            takeover  => $D,
            takeover9 => "$D; $W9",
            plain     => '',
        },
    };
}

# Asserts that the access log line of each case (a line starting
# `case=NAME `) has the fields of $want->{NAME} with those values.
sub access_log_cases {
    my ($self, $want, @names) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    for my $name (@names) {
        my $line = $self->wait_for_log(qr/^case=\Q$name\E /, log => 'access') // '';
        my %got = log_fields($line);
        my $w = $want->{$name};
        my %have = map { ($_ => $got{$_}) } keys %$w;
        Test::More::is_deeply(\%have, $w, "access log of $name: "
            . join(' ', map { "$_=$w->{$_}" } sort keys %$w))
            or Test::More::diag("line: $line");
    }
}

sub under_memcheck { $ENV{TEST_NGINX_MEMCHECK} ? 1 : 0 }


1;
