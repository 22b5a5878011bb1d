//! The reload path on arbitrary input: an old and a new configuration (split at the first NUL
//! byte) are loaded in memory, the new model crosses postcard as a child process would hand it
//! back, and the unit split that decides what a reload restarts must come out the same for the
//! decoded model; the old one, reloaded as `-d` prints it, must restart nothing.
#![no_main]

use keeplite::config::{load_str, Config, LoadOptions, MemFiles};
use keeplite::vrrp::plan::unit_keys;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fn model(text: &[u8]) -> Option<Config> {
    let text = String::from_utf8_lossy(text);
    let opts = LoadOptions {
        config_id: "fuzz".into(),
        interface_exists: None,
        ..Default::default()
    };
    load_str(
        &MemFiles::default(),
        Path::new("/fuzz/k.conf"),
        &text,
        &opts,
    )
    .ok()
    .map(|(cfg, _)| cfg)
}

fuzz_target!(|data: &[u8]| {
    let (old, new) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let (Some(old), Some(new)) = (model(old), model(new)) else {
        return;
    };
    let bytes = postcard::to_allocvec(&new).expect("a model always encodes");
    let decoded: Config = postcard::from_bytes(&bytes).expect("an encoded model decodes");
    assert_eq!(new, decoded, "postcard changed the model");
    let (keys, again) = (unit_keys(&new), unit_keys(&decoded));
    assert_eq!(keys.len(), again.len());
    assert!(keys.iter().zip(&again).all(|(a, b)| a == b));
    // Reloading the old configuration as `-d` prints it must restart nothing.
    let reread = model(keeplite::config::dump(&old).as_bytes()).expect("a dump loads");
    let (before, after) = (unit_keys(&old), unit_keys(&reread));
    assert_eq!(before.len(), after.len());
    assert!(
        before.iter().zip(&after).all(|(a, b)| a == b),
        "an unchanged unit would restart"
    );
});
