# WsDeflate - the client side of permessage-deflate (RFC 7692) for the raw
# Perl tests (t/deflate_frames.t, t/deflate_bomb.t): raw deflate streams from
# Compress::Raw::Zlib, messages compressed with a sync flush and the trailing
# 00 00 ff ff removed, and server messages inflated with it appended.

package WsDeflate;

use strict;
use warnings;

use Compress::Raw::Zlib;

use Exporter 'import';
our @EXPORT_OK = qw(deflater inflater compress_part compress_msg inflate_msg);

# A raw deflater: window bits => 15, level => Z_DEFAULT_COMPRESSION.
sub deflater {
    my (%o) = @_;
    my ($d, $st) = Compress::Raw::Zlib::Deflate->new(-WindowBits => -($o{bits} // 15),
        -Level => $o{level} // Z_DEFAULT_COMPRESSION, -AppendOutput => 1);
    die "deflateInit2: $st\n" unless $st == Z_OK;
    return $d;
}

# A raw inflater with a window of $bits (15).
sub inflater {
    my ($bits) = @_;
    my ($i, $st) = Compress::Raw::Zlib::Inflate->new(-WindowBits => -($bits // 15), -AppendOutput => 1,
        -ConsumeInput => 1);
    die "inflateInit2: $st\n" unless $st == Z_OK;
    return $i;
}

# Compressed bytes of $data followed by a sync flush (ends in 00 00 ff ff):
# one part of a message that continues.
sub compress_part {
    my ($d, $data) = @_;
    my $out = '';
    $d->deflate($data, $out) == Z_OK or die "deflate failed\n";
    $d->flush($out, Z_SYNC_FLUSH) == Z_OK or die "flush failed\n";
    return $out;
}

# One whole message: the sync flush's 00 00 ff ff removed (RFC 7692 7.2.1).
# A fresh deflater (the defaults) unless one is given (context takeover, or
# other settings).
sub compress_msg {
    my ($data, $d) = @_;
    my $out = compress_part($d // deflater(), $data);
    $out =~ s/\x00\x00\xff\xff\z// or die "no 00 00 ff ff at the end\n";
    return $out;
}

# A server message's payload inflated (00 00 ff ff appended): (data) or
# (undef, why). A fresh inflater of $bits unless one is given (context
# takeover).
sub inflate_msg {
    my ($data, $i, $bits) = @_;
    $i //= inflater($bits);
    my $in = $data . "\x00\x00\xff\xff";
    my $out = '';
    my $st = $i->inflate($in, $out);
    return (undef, "inflate: $st (" . ($i->msg // '') . ')')
        unless $st == Z_OK || $st == Z_STREAM_END || ($st == Z_BUF_ERROR && !length $in);
    return (undef, length($in) . ' compressed bytes left over') if length $in && $st != Z_STREAM_END;
    return ($out);
}

1;
