//! The kernel's process events connector (`linux/connector.h`, `linux/cn_proc.h`), which
//! keepalived's track_process listens to: a `NETLINK_CONNECTOR` message carries a `cn_msg`
//! whose data is one `proc_event`. Host byte order throughout, as the kernel writes them.
//!
//! ```text
//! cn_msg (after the 16-byte nlmsghdr)
//!  0        4        8        12       16     18      20
//!  | idx=1  | val=1  | seq    | ack    | len  | flags | data (len bytes)
//! proc_event (the data)
//!  0        4        8                 16
//!  | what   | cpu    | timestamp_ns    | event_data ...
//!    FORK 0x1:        parent_pid | parent_tgid | child_pid | child_tgid
//!    EXEC 0x2:        process_pid | process_tgid
//!    COMM 0x200:      process_pid | process_tgid | comm[16]
//!    EXIT 0x80000000: process_pid | process_tgid | exit_code | exit_signal ...
//! ```
//!
//! Subscribing sends a `cn_msg` of the same ids whose data is one u32 op
//! (`PROC_CN_MCAST_LISTEN`).

pub const CN_IDX_PROC: u32 = 1;
pub const CN_VAL_PROC: u32 = 1;
pub const PROC_CN_MCAST_LISTEN: u32 = 1;
const CN_MSG_LEN: usize = 20;
const EVENT_DATA: usize = CN_MSG_LEN + 16;
const PROC_EVENT_FORK: u32 = 0x1;
const PROC_EVENT_EXEC: u32 = 0x2;
const PROC_EVENT_COMM: u32 = 0x200;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    Truncated,
}

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const IDX: Field = 0..4;
    pub const VAL: Field = 4..8;
    pub const ACK: Field = 12..16;
    pub const LEN: Field = 16..18;
    pub const WHAT: Field = 20..24;
}

/// Checked view of a connector message (the netlink payload), see the module diagram.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks that the `cn_msg` header and the data length it announces are present.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Packet { buffer };
        let b = p.buffer.as_ref();
        if b.len() < CN_MSG_LEN || b.len() < CN_MSG_LEN + usize::from(p.data_len()) {
            return Err(Error::Truncated);
        }
        Ok(p)
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        let b = self.buffer.as_ref().get(at..at + 4)?;
        Some(u32::from_ne_bytes(b.try_into().ok()?))
    }

    pub fn idx(&self) -> u32 {
        self.u32_at(field::IDX.start).unwrap_or(0)
    }
    pub fn val(&self) -> u32 {
        self.u32_at(field::VAL.start).unwrap_or(0)
    }
    pub fn ack(&self) -> u32 {
        self.u32_at(field::ACK.start).unwrap_or(0)
    }
    pub fn data_len(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LEN];
        u16::from_ne_bytes([b[0], b[1]])
    }
    /// `proc_event.what`, if the data holds one.
    pub fn what(&self) -> Option<u32> {
        self.u32_at(field::WHAT.start)
    }
    /// The `n`th u32 of `event_data`.
    fn arg(&self, n: usize) -> Option<u32> {
        self.u32_at(EVENT_DATA + 4 * n)
    }
}

/// The process events track_process needs. Events of threads (pid != tgid) are not
/// reported: keepalived counts processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A new process `child` forked from `parent` (tgids).
    Fork {
        parent: u32,
        child: u32,
    },
    Exec {
        pid: u32,
    },
    /// The process renamed itself (`prctl(PR_SET_NAME)`, `/proc/PID/comm`).
    Comm {
        pid: u32,
        comm: [u8; 16],
    },
    Exit {
        pid: u32,
    },
}

impl Event {
    /// The event in `p`; `None` for other connectors, acks, other kinds and thread events.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Option<Event>, Error> {
        if p.idx() != CN_IDX_PROC || p.val() != CN_VAL_PROC || p.ack() != 0 {
            return Ok(None);
        }
        let arg = |n| p.arg(n).ok_or(Error::Truncated);
        let process = |pid: u32, tgid: u32| (pid == tgid).then_some(tgid);
        Ok(match p.what() {
            Some(PROC_EVENT_FORK) => process(arg(2)?, arg(3)?).map(|child| Event::Fork {
                parent: arg(1).unwrap_or(0),
                child,
            }),
            Some(PROC_EVENT_EXEC) => process(arg(0)?, arg(1)?).map(|pid| Event::Exec { pid }),
            Some(PROC_EVENT_COMM) => {
                let b = p.buffer.as_ref();
                let comm = b
                    .get(EVENT_DATA + 8..EVENT_DATA + 24)
                    .ok_or(Error::Truncated)?;
                let comm = comm.try_into().expect("16 bytes");
                process(arg(0)?, arg(1)?).map(|pid| Event::Comm { pid, comm })
            }
            Some(PROC_EVENT_EXIT) => process(arg(0)?, arg(1)?).map(|pid| Event::Exit { pid }),
            _ => None,
        })
    }

    /// Writes the connector message of this event (what the kernel sends), for tests of
    /// the consumers.
    #[cfg(test)]
    pub fn emit(&self) -> Vec<u8> {
        let (what, data): (u32, Vec<u32>) = match *self {
            Event::Fork { parent, child } => (PROC_EVENT_FORK, vec![parent, parent, child, child]),
            Event::Exec { pid } => (PROC_EVENT_EXEC, vec![pid, pid]),
            Event::Comm { pid, .. } => (PROC_EVENT_COMM, vec![pid, pid]),
            Event::Exit { pid } => (PROC_EVENT_EXIT, vec![pid, pid, 0, 17]),
        };
        let mut ev: Vec<u8> = [what, 0, 0, 0]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        ev.extend(data.iter().flat_map(|v| v.to_ne_bytes()));
        if let Event::Comm { comm, .. } = self {
            ev.extend_from_slice(comm);
        }
        let mut out = Vec::new();
        emit_header(&mut out, ev.len());
        out.extend_from_slice(&ev);
        out
    }
}

fn emit_header(out: &mut Vec<u8>, data_len: usize) {
    for v in [CN_IDX_PROC, CN_VAL_PROC, 0, 0] {
        out.extend_from_slice(&v.to_ne_bytes());
    }
    out.extend_from_slice(&(data_len as u16).to_ne_bytes());
    out.extend_from_slice(&0u16.to_ne_bytes());
}

/// The subscription message (after the nlmsghdr): `op` is [`PROC_CN_MCAST_LISTEN`].
pub fn emit_listen(out: &mut Vec<u8>, op: u32) {
    emit_header(out, 4);
    out.extend_from_slice(&op.to_ne_bytes());
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::*;
    use crate::proto::hex;

    fn parse(b: &[u8]) -> Result<Option<Event>, Error> {
        Event::parse(&Packet::new_checked(b)?)
    }

    #[test]
    fn kernel_messages() {
        // Captured on Linux 6.18 (payload after the nlmsghdr): exec of pid 0x2c48.
        let exec = hex("01000000 01000000 01000000 00000000 2800 0000
             02000000 01000000 490e2567ec0a0000 482c0000 482c0000
             00000000 00000000 00000000 00000000");
        assert_eq!(parse(&exec), Ok(Some(Event::Exec { pid: 0x2c48 })));
        // The ack of the subscription (what = NONE).
        let ack = hex("01000000 01000000 00000000 01000000 2800 0000
             00000000 00000000 c7f22367ec0a0000 00000000
             00000000 00000000 00000000 00000000 00000000 00000000");
        assert_eq!(parse(&ack), Ok(None));
        // Fork of a thread (pid != tgid): not a process.
        let thread = hex("01000000 01000000 05000000 00000000 2000 0000
             01000000 00000000 0000000000000000 0a000000 0a000000 0c000000 0b000000");
        assert_eq!(parse(&thread), Ok(None));
        let mut comm = [0u8; 16];
        comm[..4].copy_from_slice(b"srv1");
        for e in [
            Event::Fork {
                parent: 10,
                child: 11,
            },
            Event::Exec { pid: 11 },
            Event::Comm { pid: 11, comm },
            Event::Exit { pid: 11 },
        ] {
            assert_eq!(parse(&e.emit()), Ok(Some(e)));
        }
    }

    #[test]
    fn truncated_messages_are_refused() {
        let exit = Event::Exit { pid: 7 }.emit();
        assert_eq!(parse(&exit[..19]), Err(Error::Truncated));
        // The header announces more data than there is.
        assert_eq!(parse(&exit[..30]), Err(Error::Truncated));
        // A length that lies short: the event fields are still bounds-checked.
        let mut short = exit[..28].to_vec();
        short[16..18].copy_from_slice(&8u16.to_ne_bytes());
        assert_eq!(parse(&short), Err(Error::Truncated));
        // Another connector's message is not ours.
        let mut other = exit.clone();
        other[0] = 2;
        assert_eq!(parse(&other), Ok(None));
    }

    #[test]
    fn listen_message() {
        let mut out = Vec::new();
        emit_listen(&mut out, PROC_CN_MCAST_LISTEN);
        assert_eq!(
            out,
            hex("01000000 01000000 00000000 00000000 0400 0000 01000000")
        );
    }
}
