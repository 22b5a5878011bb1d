//! A/B slots: which slot boots, boot counting, mark-good and rollback. Pure: the state is a
//! small text file on the boot partition (`/boot/slots`), read and written by the upgrade
//! command, by the initramfs at every boot (`keeplite slot boot`), and by the trial watcher
//! (`keeplite slot trial`). syslinux boots the slot on the `DEFAULT` line of its config, the
//! good one ([`State::default_slot`], written by [`with_default`]), unless its boot-once
//! command (the ADV, `adv.rs`) names the slot on trial ([`State::boot_once`]): syslinux clears
//! that before booting it, so whatever stops the slot on trial, the next reset boots the good
//! slot unless the trial slot's initramfs armed boot-once again.
//!
//! ```text
//! # keeplite A/B slots (written by keeplite)
//! boot b
//! a good 0.1.0
//! b try 2 0.2.0
//! trial 60 300
//! note b: installed 0.2.0, 3 tries
//! ```
//!
//! Life of an upgrade: the target (the slot not running) becomes `writing` before any byte is
//! written, so a half-written slot is never booted; once every part is written, verified and
//! synced it becomes `try N`, `boot` points at it and boot-once is armed. Each boot of a `try`
//! slot spends one try in its initramfs, before its root is even mounted, and arms boot-once
//! again while tries are left, so a slot that cannot mount its root, hangs (the initramfs arms
//! the hardware watchdog) or never marks itself good runs out of tries and the good slot boots
//! next. A kernel that dies before its initramfs runs spends no try there: the good slot's
//! initramfs finds `boot` naming the other slot and counts the failed boot for it (and sends
//! the box back to it while tries are left). The good slot's initramfs then marks the slot
//! that ran out of tries `bad`. The trial watcher marks it `good` after a healthy run (see
//! `trial.rs`).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }

    pub fn parse(s: &str) -> Option<Slot> {
        match s {
            "a" => Some(Slot::A),
            "b" => Some(Slot::B),
            _ => None,
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Nothing installed.
    Empty,
    /// Being written: never booted.
    Writing,
    /// Installed, on trial: `left` more boots before it is abandoned.
    Try {
        left: u8,
    },
    Good,
    /// Abandoned after a failed trial.
    Bad,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotInfo {
    pub status: Status,
    pub version: String,
}

/// Timings of a trial, in seconds: healthy this long continuously marks the slot good; not
/// good this long after boot abandons it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrialTimes {
    pub good_after: u32,
    pub give_up_after: u32,
}

pub const DEFAULT_TRIAL: TrialTimes = TrialTimes {
    good_after: 60,
    give_up_after: 300,
};
pub const DEFAULT_TRIES: u8 = 3;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// The slot syslinux boots.
    pub boot: Slot,
    pub a: SlotInfo,
    pub b: SlotInfo,
    pub trial: TrialTimes,
    /// The last event, for the console.
    pub note: String,
}

/// What the initramfs does after counting a boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootDecision {
    /// Go on booting this slot (`trial`: it is on trial, arm the watchdog).
    Run { trial: bool },
    /// This slot must not run now: reboot (into `boot`, the state is already written).
    Reboot,
}

impl State {
    /// A fresh image: slot A good at `version`, B empty.
    pub fn factory(version: &str) -> State {
        State {
            boot: Slot::A,
            a: SlotInfo {
                status: Status::Good,
                version: version.to_owned(),
            },
            b: SlotInfo {
                status: Status::Empty,
                version: String::new(),
            },
            trial: DEFAULT_TRIAL,
            note: "factory image".to_owned(),
        }
    }

    pub fn slot(&self, s: Slot) -> &SlotInfo {
        match s {
            Slot::A => &self.a,
            Slot::B => &self.b,
        }
    }

    fn slot_mut(&mut self, s: Slot) -> &mut SlotInfo {
        match s {
            Slot::A => &mut self.a,
            Slot::B => &mut self.b,
        }
    }

    /// The slot on syslinux's `DEFAULT` line: the one to boot unless boot-once says
    /// otherwise, so the good slot while the other is on trial.
    pub fn default_slot(&self) -> Slot {
        let other = self.boot.other();
        if self.slot(self.boot).status != Status::Good && self.slot(other).status == Status::Good {
            other
        } else {
            self.boot
        }
    }

    /// The slot syslinux boots once, at the next boot only: the slot on trial while it has
    /// tries left.
    pub fn boot_once(&self) -> Option<Slot> {
        let on_trial = matches!(self.slot(self.boot).status, Status::Try { left } if left > 0);
        (on_trial && self.default_slot() != self.boot).then_some(self.boot)
    }

    /// Counts one boot of `booted` (the initramfs, before the root is mounted).
    pub fn on_boot(&mut self, booted: Slot) -> BootDecision {
        let other = booted.other();
        let fallback = self.slot(other).status == Status::Good;
        if self.boot == other && self.slot(booted).status == Status::Good {
            // The good slot booted although the other one was to: syslinux spent its
            // boot-once on it and it never reached (or finished) its own boot counting.
            if let Status::Try { left } = self.slot(other).status {
                return self.trial_failed(other, left);
            }
        }
        match self.slot(booted).status {
            Status::Good => BootDecision::Run { trial: false },
            Status::Try { left } if left > 0 => {
                self.slot_mut(booted).status = Status::Try { left: left - 1 };
                BootDecision::Run { trial: true }
            }
            Status::Try { .. } => {
                self.slot_mut(booted).status = Status::Bad;
                self.fall_back(booted, fallback, no_tries_left(booted))
            }
            Status::Empty | Status::Writing | Status::Bad => {
                let why = format!(
                    "{booted}: booted while {}",
                    status_word(self.slot(booted).status)
                );
                self.fall_back(booted, fallback, why)
            }
        }
    }

    /// The good slot booted instead of `trial`, which had `left` tries before that boot.
    fn trial_failed(&mut self, trial: Slot, left: u8) -> BootDecision {
        let good = trial.other();
        let why = if left == 0 {
            // Its initramfs spent the last try, then it hung or could not mount its root.
            no_tries_left(trial)
        } else {
            format!(
                "{trial}: its kernel stopped before its initramfs could count the boot (a \
                 panic, a corrupt kernel or initramfs, or a reset){}",
                if left == 1 { ", no tries left" } else { "" }
            )
        };
        if left > 1 {
            self.slot_mut(trial).status = Status::Try { left: left - 1 };
            self.note = format!("{why}: trying {trial} again (tries left: {})", left - 1);
            BootDecision::Reboot
        } else {
            self.slot_mut(trial).status = Status::Bad;
            self.boot = good;
            self.note = format!("{why}: rolled back to {good}");
            BootDecision::Run { trial: false }
        }
    }

    fn fall_back(&mut self, booted: Slot, fallback: bool, why: String) -> BootDecision {
        if fallback {
            self.boot = booted.other();
            self.note = format!("{why}: rolled back to {}", booted.other());
            BootDecision::Reboot
        } else {
            self.note = format!(
                "{why}, and {} is not good either: booting {booted} anyway",
                booted.other()
            );
            BootDecision::Run { trial: false }
        }
    }

    /// Where an upgrade goes: the slot not running. Refused while the running slot is on
    /// trial and the other one is the good one: writing it would leave no known-good slot to
    /// roll back to.
    pub fn upgrade_target(&self, running: Slot) -> Result<Slot, String> {
        let target = running.other();
        if matches!(self.slot(running).status, Status::Try { .. })
            && self.slot(target).status == Status::Good
        {
            return Err(format!(
                "slot {running} (running) is still on trial and slot {target} is the only good                  one: upgrading now would overwrite it and leave no slot to roll back to
                   = help: wait until {running} is marked good (`keeplite slot status`), or mark                  it good yourself with `keeplite slot mark-good`, then upgrade"
            ));
        }
        Ok(target)
    }

    /// Before writing an upgrade: the target ([`State::upgrade_target`]) is marked `writing`
    /// (never booted) and the running slot boots until the write completes.
    pub fn begin_write(&mut self, running: Slot) -> Result<Slot, String> {
        let target = self.upgrade_target(running)?;
        self.boot = running;
        *self.slot_mut(target) = SlotInfo {
            status: Status::Writing,
            version: String::new(),
        };
        self.note = format!("{target}: writing an upgrade");
        Ok(target)
    }

    /// Every part written and verified: the target boots next, on trial.
    pub fn finish_write(&mut self, target: Slot, version: &str, tries: u8, trial: TrialTimes) {
        *self.slot_mut(target) = SlotInfo {
            status: Status::Try { left: tries },
            version: version.to_owned(),
        };
        self.boot = target;
        self.trial = trial;
        self.note = format!("{target}: installed {version}, {tries} tries to prove itself");
    }

    /// The trial went well. Returns whether anything changed.
    pub fn mark_good(&mut self, running: Slot) -> bool {
        if self.slot(running).status == Status::Good {
            return false;
        }
        self.slot_mut(running).status = Status::Good;
        self.boot = running;
        self.note = format!("{running}: marked good");
        true
    }

    /// The trial failed while running (unhealthy past the deadline): the slot is abandoned
    /// now. Returns whether there is a good slot to reboot into.
    pub fn abandon(&mut self, running: Slot, why: &str) -> bool {
        self.slot_mut(running).status = Status::Bad;
        let fallback = self.slot(running.other()).status == Status::Good;
        if fallback {
            self.boot = running.other();
            self.note = format!("{running}: {why}: rolled back to {}", running.other());
        } else {
            self.note = format!("{running}: {why}, and no good slot to roll back to");
        }
        fallback
    }

    /// One line per slot, for the console.
    pub fn summary(&self, running: Option<Slot>) -> String {
        let mut s = String::new();
        for slot in [Slot::A, Slot::B] {
            let info = self.slot(slot);
            s.push_str(&format!(
                "slot {slot}: {}{}{}{}\n",
                status_word(info.status),
                if info.version.is_empty() {
                    String::new()
                } else {
                    format!(" {}", info.version)
                },
                if self.boot == slot {
                    ", boots next"
                } else {
                    ""
                },
                if running == Some(slot) {
                    ", running"
                } else {
                    ""
                },
            ));
        }
        s.push_str(&format!("last event: {}\n", self.note));
        s
    }

    pub fn emit(&self) -> String {
        let mut s = String::from(
            "# keeplite A/B slots (written by keeplite; see `keeplite slot status`)\n",
        );
        s.push_str(&format!("boot {}\n", self.boot));
        for slot in [Slot::A, Slot::B] {
            let info = self.slot(slot);
            let status = match info.status {
                Status::Try { left } => format!("try {left}"),
                st => status_word(st).to_owned(),
            };
            let line = format!("{slot} {status} {}", info.version);
            s.push_str(line.trim_end());
            s.push('\n');
        }
        s.push_str(&format!(
            "trial {} {}\n",
            self.trial.good_after, self.trial.give_up_after
        ));
        s.push_str(&format!("note {}\n", self.note.replace('\n', " ")));
        s
    }

    /// Parses [`State::emit`]'s format; errors name the line.
    pub fn parse(text: &str) -> Result<State, String> {
        let mut boot = None;
        let mut slots = [None, None];
        let mut trial = DEFAULT_TRIAL;
        let mut note = String::new();
        for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l)) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let bad = || format!("slots:{n}: cannot read `{line}`");
            match f.as_slice() {
                [] => {}
                [c, ..] if c.starts_with('#') => {}
                ["boot", s] => boot = Some(Slot::parse(s).ok_or_else(bad)?),
                ["trial", g, d] => {
                    trial = TrialTimes {
                        good_after: g.parse().map_err(|_| bad())?,
                        give_up_after: d.parse().map_err(|_| bad())?,
                    }
                }
                ["note", ..] => note = line[4..].trim().to_owned(),
                [s, rest @ ..] if Slot::parse(s).is_some() => {
                    let (status, version) = match rest {
                        ["try", left, v @ ..] => (
                            Status::Try {
                                left: left.parse().map_err(|_| bad())?,
                            },
                            v,
                        ),
                        [st, v @ ..] => (
                            match *st {
                                "empty" => Status::Empty,
                                "writing" => Status::Writing,
                                "good" => Status::Good,
                                "bad" => Status::Bad,
                                _ => return Err(bad()),
                            },
                            v,
                        ),
                        [] => return Err(bad()),
                    };
                    let i = usize::from(Slot::parse(s) == Some(Slot::B));
                    slots[i] = Some(SlotInfo {
                        status,
                        version: version.join(" "),
                    });
                }
                _ => return Err(bad()),
            }
        }
        let [Some(a), Some(b)] = slots else {
            return Err("slots: expected a line for each of slot a and slot b".to_owned());
        };
        Ok(State {
            boot: boot.ok_or("slots: expected a `boot a|b` line")?,
            a,
            b,
            trial,
            note,
        })
    }
}

fn no_tries_left(slot: Slot) -> String {
    format!(
        "{slot}: no tries left and never marked good (it hung, crashed, could not mount its \
         root or stayed unhealthy)"
    )
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Empty => "empty",
        Status::Writing => "writing (incomplete)",
        Status::Try { .. } => "on trial",
        Status::Good => "good",
        Status::Bad => "bad",
    }
}

/// `cfg` (syslinux.cfg) with its `DEFAULT` line naming `slot`'s label.
pub fn with_default(cfg: &str, slot: Slot) -> String {
    let mut out = String::with_capacity(cfg.len());
    for line in cfg.lines() {
        if line
            .trim_start()
            .to_ascii_uppercase()
            .starts_with("DEFAULT ")
        {
            out.push_str(&format!("DEFAULT {slot}"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// The slot the kernel command line names (`klslot=a|b`, set per label in syslinux.cfg).
pub fn running_slot(cmdline: &str) -> Option<Slot> {
    cmdline
        .split_whitespace()
        .find_map(|a| a.strip_prefix("klslot="))
        .and_then(Slot::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRIAL: TrialTimes = TrialTimes {
        good_after: 10,
        give_up_after: 120,
    };

    fn upgraded(tries: u8) -> State {
        let mut s = State::factory("0.1.0");
        let t = s.begin_write(Slot::A).unwrap();
        assert_eq!(t, Slot::B);
        s.finish_write(t, "0.2.0", tries, TRIAL);
        s
    }

    #[test]
    fn text_round_trip() {
        let s = upgraded(3);
        let text = s.emit();
        assert_eq!(
            text,
            "# keeplite A/B slots (written by keeplite; see `keeplite slot status`)\n\
             boot b\na good 0.1.0\nb try 3 0.2.0\ntrial 10 120\nnote b: installed 0.2.0, 3 tries to prove itself\n"
        );
        assert_eq!(State::parse(&text), Ok(s));
        let f = State::factory("1");
        assert_eq!(State::parse(&f.emit()), Ok(f));
        assert_eq!(
            State::parse("boot c\n").unwrap_err(),
            "slots:1: cannot read `boot c`"
        );
        assert!(State::parse("boot a\na good 1\n").is_err());
    }

    #[test]
    fn good_upgrade_counts_then_marks_good() {
        let mut s = upgraded(3);
        assert_eq!(s.on_boot(Slot::B), BootDecision::Run { trial: true });
        assert_eq!(s.b.status, Status::Try { left: 2 });
        assert!(s.mark_good(Slot::B));
        assert_eq!(s.b.status, Status::Good);
        assert_eq!(s.boot, Slot::B);
        assert!(!s.mark_good(Slot::B));
        assert_eq!(s.on_boot(Slot::B), BootDecision::Run { trial: false });
        // The old slot stays good: the next upgrade writes it.
        assert_eq!(s.a.status, Status::Good);
        assert_eq!(s.begin_write(Slot::B), Ok(Slot::A));
        assert_eq!(s.boot, Slot::B);
    }

    #[test]
    fn tries_run_out_then_roll_back() {
        let mut s = upgraded(2);
        // syslinux: DEFAULT stays the good slot, boot-once names the slot on trial.
        assert_eq!((s.default_slot(), s.boot_once()), (Slot::A, Some(Slot::B)));
        assert_eq!(s.on_boot(Slot::B), BootDecision::Run { trial: true });
        // A try is left: its initramfs arms boot-once again.
        assert_eq!(s.boot_once(), Some(Slot::B));
        assert_eq!(s.on_boot(Slot::B), BootDecision::Run { trial: true });
        assert_eq!(s.b.status, Status::Try { left: 0 });
        assert_eq!((s.default_slot(), s.boot_once()), (Slot::A, None));
        // It hangs: the watchdog resets the box and syslinux boots the default, a, whose
        // initramfs abandons b.
        assert_eq!(s.on_boot(Slot::A), BootDecision::Run { trial: false });
        assert_eq!((s.boot, s.b.status), (Slot::A, Status::Bad));
        assert!(s.note.contains("no tries left"), "{}", s.note);
        assert!(s.note.contains("rolled back to a"), "{}", s.note);
        assert_eq!(s.boot_once(), None);
        assert_eq!(s.on_boot(Slot::A), BootDecision::Run { trial: false });

        // Should syslinux boot b once more anyway (boot-once not cleared), b sends it back.
        let mut s = upgraded(1);
        s.on_boot(Slot::B);
        assert_eq!(s.on_boot(Slot::B), BootDecision::Reboot);
        assert_eq!(
            (s.boot, s.b.status, s.boot_once()),
            (Slot::A, Status::Bad, None)
        );
    }

    #[test]
    fn kernel_dying_before_the_initramfs_rolls_back() {
        let mut s = upgraded(2);
        // b's kernel panics before its initramfs: syslinux spent boot-once, a boots. a counts
        // the failed boot for b and, a try being left, reboots into b (boot-once armed again).
        assert_eq!(s.on_boot(Slot::A), BootDecision::Reboot);
        assert_eq!((s.boot, s.b.status), (Slot::B, Status::Try { left: 1 }));
        assert_eq!(s.boot_once(), Some(Slot::B));
        assert!(
            s.note.contains("kernel stopped before its initramfs"),
            "{}",
            s.note
        );
        assert!(
            s.note.contains("trying b again (tries left: 1)"),
            "{}",
            s.note
        );
        // It dies again: no try left, a runs and b is bad.
        assert_eq!(s.on_boot(Slot::A), BootDecision::Run { trial: false });
        assert_eq!(
            (s.boot, s.b.status, s.boot_once()),
            (Slot::A, Status::Bad, None)
        );
        assert!(
            s.note.contains("no tries left: rolled back to a"),
            "{}",
            s.note
        );
        // Marked good, the new slot becomes the default and nothing is booted once.
        let mut s = upgraded(3);
        s.on_boot(Slot::B);
        s.mark_good(Slot::B);
        assert_eq!((s.default_slot(), s.boot_once()), (Slot::B, None));
        assert_eq!(s.on_boot(Slot::B), BootDecision::Run { trial: false });
    }

    #[test]
    fn half_written_slot_is_never_booted() {
        let mut s = State::factory("0.1.0");
        s.begin_write(Slot::A).unwrap();
        assert_eq!((s.boot, s.b.status), (Slot::A, Status::Writing));
        // Power cut mid-write: the boot loader still boots a.
        assert_eq!(s.on_boot(Slot::A), BootDecision::Run { trial: false });
        // Even if b were booted (by hand at the boot prompt), it sends the box back to a.
        assert_eq!(s.on_boot(Slot::B), BootDecision::Reboot);
        assert_eq!(s.boot, Slot::A);
    }

    #[test]
    fn no_upgrade_over_the_good_slot_while_the_running_one_is_on_trial() {
        // b runs on trial, a is the only good slot: writing a would leave none.
        let mut s = upgraded(3);
        s.on_boot(Slot::B);
        let before = s.clone();
        let e = s.begin_write(Slot::B).unwrap_err();
        assert!(e.starts_with("slot b (running) is still on trial"), "{e}");
        assert!(e.contains("keeplite slot mark-good"), "{e}");
        assert_eq!(s, before, "nothing changed");
        // Once b is marked good, a is written.
        s.mark_good(Slot::B);
        assert_eq!(s.begin_write(Slot::B), Ok(Slot::A));
        // On trial with no good slot to lose (a was abandoned): allowed.
        let mut s = upgraded(3);
        s.on_boot(Slot::B);
        s.a.status = Status::Bad;
        assert_eq!(s.begin_write(Slot::B), Ok(Slot::A));
    }

    #[test]
    fn abandon_during_trial() {
        let mut s = upgraded(3);
        s.on_boot(Slot::B);
        assert!(s.abandon(Slot::B, "not healthy within 120 s"));
        assert_eq!((s.boot, s.b.status), (Slot::A, Status::Bad));
        // No good slot to go to: keep running what there is.
        let mut s = State::factory("1");
        s.a.status = Status::Try { left: 0 };
        assert_eq!(s.on_boot(Slot::A), BootDecision::Run { trial: false });
        assert!(s.note.contains("booting a anyway"), "{}", s.note);
    }

    #[test]
    fn syslinux_default_and_cmdline() {
        let cfg = "DEFAULT a\nPROMPT 0\nLABEL a\n\tKERNEL /a/bzImage\nLABEL b\n";
        assert_eq!(
            with_default(cfg, Slot::B),
            "DEFAULT b\nPROMPT 0\nLABEL a\n\tKERNEL /a/bzImage\nLABEL b\n"
        );
        assert_eq!(running_slot("root=x klslot=b quiet"), Some(Slot::B));
        assert_eq!(running_slot("root=x"), None);
    }
}
