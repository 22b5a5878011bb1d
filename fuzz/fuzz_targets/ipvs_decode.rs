//! Fuzzes the IPVS netlink reply decoder: any bytes must decode or fail cleanly, and what
//! decodes must survive encoding as keeplite's request and decoding again unchanged.
#![no_main]

use keeplite::ipvs::model::{Family, ServiceKey};
use keeplite::ipvs::plan::Op;
use keeplite::ipvs::wire::{Reply, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(reply) = Reply::decode(data) else {
        return;
    };
    let op = match reply {
        Reply::Service(s) => Op::AddService(s),
        Reply::Dest(d) => Op::AddDest(
            ServiceKey::Fwmark {
                family: Family::V4,
                mark: 1,
            },
            d,
        ),
    };
    let mut buf = Vec::new();
    Request::op(&op).write_message(0x20, 0, 1, &mut buf);
    assert_eq!(Reply::decode(&buf).ok(), Some(reply));
});
