#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ngx_websocket_codec_fuzz::deflate_echo::check(data);
});
