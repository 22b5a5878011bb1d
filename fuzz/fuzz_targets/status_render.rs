//! Arbitrary status reports through the renderers (the daemon renders one on SIGUSR1, names
//! come from the configuration): no panic, every line of the human text within 80 characters
//! and free of control characters, and the JSON text is produced.
#![no_main]

use keeplite::control::{decode, render_human, render_json, StatusReport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut frame = (data.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(data);
    let Ok(Some((report, _))) = decode::<StatusReport>(&frame) else {
        return;
    };
    let text = render_human(&report);
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "{line:?}");
        assert!(!line.chars().any(char::is_control), "{line:?}");
    }
    assert!(!render_json(&report).is_empty());
});
