//! MISC_CHECK result logic (the process itself is spawned by the daemon's spawner).

/// How the misc script ended, as reported by the spawner after waitpid().
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MiscExit {
    Exited(u8),
    Signaled(i32),
}

/// What one run of the script means for the real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MiscVerdict {
    /// Healthy; `weight` is `Some(code - 2)` for misc_dynamic exit codes 2..=255, `None`
    /// for exit 0 (keep the configured weight).
    Up {
        weight: Option<u32>,
    },
    Down,
}

/// keepalived's rule: exit 0 is up; with misc_dynamic, 2..=255 is up with weight code-2;
/// anything else (1, other codes without misc_dynamic, a signal) is down.
pub fn verdict(exit: MiscExit, dynamic: bool) -> MiscVerdict {
    match exit {
        MiscExit::Exited(0) => MiscVerdict::Up { weight: None },
        MiscExit::Exited(c) if dynamic && c >= 2 => MiscVerdict::Up {
            weight: Some(u32::from(c) - 2),
        },
        _ => MiscVerdict::Down,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        use MiscExit::*;
        assert_eq!(verdict(Exited(0), false), MiscVerdict::Up { weight: None });
        assert_eq!(verdict(Exited(0), true), MiscVerdict::Up { weight: None });
        assert_eq!(verdict(Exited(1), true), MiscVerdict::Down);
        assert_eq!(verdict(Exited(2), false), MiscVerdict::Down);
        assert_eq!(
            verdict(Exited(2), true),
            MiscVerdict::Up { weight: Some(0) }
        );
        assert_eq!(
            verdict(Exited(255), true),
            MiscVerdict::Up { weight: Some(253) }
        );
        assert_eq!(verdict(Signaled(9), true), MiscVerdict::Down);
    }
}
