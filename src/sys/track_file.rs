//! Reading and initialising `track_file` files (the value's meaning is in `vrrp::track_file`).

use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::vrrp::track_file::parse_value;

/// The file's value as keepalived reads it: the first 127 bytes, opened non-blocking (a FIFO
/// there cannot stall the loop); a missing or unreadable file is 0. `None`: out of range,
/// keep the previous value.
pub fn read_value(path: &Path) -> Option<i64> {
    let mut buf = [0u8; 127];
    let read = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .and_then(|mut f| f.read(&mut buf));
    match read {
        Ok(n) => parse_value(&buf[..n]),
        Err(_) => Some(0),
    }
}

/// `init_file VALUE [overwrite]`: writes the value unless the file exists (or always).
pub fn init(path: &Path, value: i64, overwrite: bool) -> io::Result<()> {
    if !overwrite && path.exists() {
        return Ok(());
    }
    std::fs::write(path, format!("{value}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_and_init() {
        let p = std::env::temp_dir().join(format!("keeplite-tf-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        assert_eq!(read_value(&p), Some(0));
        init(&p, 5, false).unwrap();
        assert_eq!(read_value(&p), Some(5));
        init(&p, 7, false).unwrap();
        assert_eq!(read_value(&p), Some(5));
        init(&p, -7, true).unwrap();
        assert_eq!(read_value(&p), Some(-7));
        std::fs::write(&p, "9999999999").unwrap();
        assert_eq!(read_value(&p), None);
        std::fs::remove_file(&p).unwrap();
    }
}
