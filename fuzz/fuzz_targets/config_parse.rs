//! Arbitrary bytes through the whole configuration pipeline (lexer, parser, model, checks, dump).
//! In memory only: includes resolve against an empty file set.
#![no_main]

use keeplite::config::{dump, load_str, LoadOptions, MemFiles};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let opts = LoadOptions {
        config_id: "fuzz".into(),
        interface_exists: Some(&|name: &str| name.len().is_multiple_of(2)),
        ..Default::default()
    };
    let fs = MemFiles::default();
    if let Ok((cfg, _)) = load_str(&fs, Path::new("/fuzz/k.conf"), &text, &opts) {
        // A valid model must dump to text that parses back to the same model.
        let out = dump(&cfg);
        let (again, _) = load_str(&fs, Path::new("/fuzz/dump.conf"), &out, &opts)
            .unwrap_or_else(|d| panic!("dump does not parse: {d:?}\n{out}"));
        assert_eq!(cfg, again, "round trip changed the model:\n{out}");
    }
});
