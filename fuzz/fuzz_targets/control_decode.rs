//! Arbitrary bytes as control-socket frames (what any local client can send the daemon):
//! decoding never panics, and whatever decodes re-encodes to a frame that decodes the same.
#![no_main]

use keeplite::control::{decode, encode, Request, Response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((req, used))) = decode::<Request>(data) {
        assert!(used <= data.len());
        let again = encode(&req);
        assert_eq!(decode::<Request>(&again), Ok(Some((req, again.len()))));
    }
    if let Ok(Some((resp, _))) = decode::<Response>(data) {
        let again = encode(&resp);
        assert_eq!(decode::<Response>(&again), Ok(Some((resp, again.len()))));
    }
});
