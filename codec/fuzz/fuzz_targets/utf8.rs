#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ngx_websocket_codec_fuzz::utf8::check(data);
});
