//! Arbitrary chunking of arbitrary bytes into the incremental HTTP response parser: no panic,
//! bounded buffering, and the same verdict however the bytes are split.
#![no_main]

use keeplite::check::http::{Progress, ResponseParser, MAX_HEADER_BYTES};
use libfuzzer_sys::fuzz_target;

fn run<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> Progress {
    let mut p = ResponseParser::new();
    for c in chunks {
        let r = p.feed(c);
        assert!(p.buffered_bytes() <= MAX_HEADER_BYTES);
        if r != Progress::Partial {
            return r;
        }
    }
    match p.finish() {
        Ok(r) => Progress::Complete(r),
        Err(e) => Progress::Failed(e),
    }
}

fuzz_target!(|data: &[u8]| {
    // First byte picks the chunk size, the rest is the response.
    let Some((&size, body)) = data.split_first() else {
        return;
    };
    let size = usize::from(size).max(1);
    let chunked = run(body.chunks(size));
    let whole = run(std::iter::once(body));
    assert_eq!(chunked, whole);
});
