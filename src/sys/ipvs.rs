//! The IPVS generic-netlink socket: family resolution, batched operations, dumps.
//!
//! The kernel handles netlink requests synchronously inside `sendmsg`, so every reply is
//! already queued when `recv` is called: the socket never waits on anything but the kernel,
//! which keeps it usable from the single event-loop thread.

use std::io;

use super::netlink::Socket;
use crate::ipvs::error::OpError;
use crate::ipvs::model::{Dest, Service, ServiceKey, State};
use crate::ipvs::plan::Op;
use crate::ipvs::wire::{Reply, Request, IPVS_GENL_NAME};
use crate::netlink::{
    self, attrs, messages, put, NLMSG_ERROR, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};

/// The generic netlink controller (`linux/genetlink.h`): resolves family names to ids.
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_VERSION: u8 = 2;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
/// `SOL_NETLINK` option: errors carry only the header of the failed request.
const NETLINK_CAP_ACK: libc::c_int = 10;

/// Requests per `sendmsg` (~36 KiB). The kernel queues all their acks (one small skb each,
/// NETLINK_CAP_ACK) before `sendmsg` returns; 256 of them fit the socket's receive buffer
/// with room to spare, so none is dropped.
const BATCH: usize = 256;
/// SO_RCVBUF asked for (the kernel caps it at net.core.rmem_max, 208 KiB by default, and
/// doubles it).
const RX_BUF: usize = 1 << 20;
/// Largest datagram the kernel sends: dump skbs are capped at 32 KiB.
const RX_DATAGRAM: usize = 64 * 1024;

pub struct IpvsSocket {
    sock: Socket,
    family: u16,
    tx: Vec<u8>,
    rx: Vec<u8>,
}

impl IpvsSocket {
    /// Opens a generic-netlink socket and resolves the "IPVS" family.
    pub fn open() -> io::Result<Self> {
        let sock = Socket::open(libc::NETLINK_GENERIC, 0, false)?;
        // Errors then carry only the header of the failed request, not a copy of it.
        sock.set_option(libc::SOL_NETLINK, NETLINK_CAP_ACK, 1)?;
        sock.set_option(libc::SOL_SOCKET, libc::SO_RCVBUF, RX_BUF as i32)?;
        let mut s = IpvsSocket {
            sock,
            family: 0,
            tx: Vec::with_capacity(64 * 1024),
            rx: vec![0; RX_DATAGRAM],
        };
        s.family = s.resolve_family()?;
        Ok(s)
    }

    fn resolve_family(&mut self) -> io::Result<u16> {
        let seq = self.sock.next_seq();
        self.tx.clear();
        let flags = NLM_F_REQUEST | NLM_F_ACK;
        let start = netlink::begin(&mut self.tx, GENL_ID_CTRL, flags, seq);
        self.tx
            .extend_from_slice(&[CTRL_CMD_GETFAMILY, CTRL_VERSION, 0, 0]);
        let name = format!("{IPVS_GENL_NAME}\0");
        put(&mut self.tx, CTRL_ATTR_FAMILY_NAME, name.as_bytes());
        netlink::end(&mut self.tx, start);
        self.sock.send(&self.tx)?;
        let mut id = None;
        let replied = self.sock.replies(&mut self.rx, seq, |m| {
            // The answer (genlmsghdr, then the family's attributes), before the ack.
            for a in attrs(m.payload, 4) {
                if let (CTRL_ATTR_FAMILY_ID, v) = a.map_err(|e| bad(&e))? {
                    id = v.try_into().ok().map(u16::from_ne_bytes);
                }
            }
            Ok(())
        });
        match replied {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "error: IPVS is not available in this kernel (no generic netlink family \
                 \"IPVS\")\n  = help: load the module: `modprobe ip_vs`",
            )),
            Err(e) => Err(e),
            Ok(()) => id.ok_or_else(|| bad("no family id in the reply to CTRL_CMD_GETFAMILY")),
        }
    }

    /// Appends one request to the transmit buffer; returns its sequence number.
    fn push(&mut self, req: Request, flags: u16) -> u32 {
        let seq = self.sock.next_seq();
        req.write_message(self.family, flags, seq, &mut self.tx);
        seq
    }

    /// Applies `ops` in order, `BATCH` requests per `sendmsg`. The kernel handles each request
    /// independently, so a refused one does not stop the others; refusals are returned.
    pub fn apply(&mut self, ops: &[Op]) -> io::Result<Vec<OpError>> {
        let mut failed = Vec::new();
        for chunk in ops.chunks(BATCH) {
            self.tx.clear();
            let first = self.push(Request::op(&chunk[0]), NLM_F_REQUEST | NLM_F_ACK);
            for op in &chunk[1..] {
                self.push(Request::op(op), NLM_F_REQUEST | NLM_F_ACK);
            }
            self.sock.send(&self.tx)?;
            let mut acked = 0;
            while acked < chunk.len() {
                let n = self.sock.recv(&mut self.rx)?;
                for m in messages(&self.rx[..n]) {
                    if m.ty != NLMSG_ERROR {
                        continue;
                    }
                    // Acks left over from an earlier call that failed midway are not ours.
                    let idx = m.seq.wrapping_sub(first) as usize;
                    let Some(op) = chunk.get(idx) else {
                        continue;
                    };
                    if let Err(e) = m.ack() {
                        failed.push(OpError {
                            op: *op,
                            errno: e.raw_os_error().unwrap_or(libc::EBADMSG),
                        });
                    }
                    acked += 1;
                }
            }
        }
        Ok(failed)
    }

    /// Sends one request and waits for its ack: the kernel's refusal is the error (its errno).
    pub fn command(&mut self, req: Request) -> io::Result<()> {
        self.tx.clear();
        let seq = self.push(req, NLM_F_REQUEST | NLM_F_ACK);
        self.sock.send(&self.tx)?;
        self.sock.replies(&mut self.rx, seq, |_| Ok(()))
    }

    /// Runs one dump request and returns the raw netlink messages of the reply (without the
    /// final NLMSG_DONE), e.g. to capture kernel replies for tests.
    pub fn dump_raw(&mut self, req: Request) -> io::Result<Vec<Vec<u8>>> {
        self.tx.clear();
        let seq = self.push(req, NLM_F_REQUEST | NLM_F_DUMP);
        self.sock.send(&self.tx)?;
        let mut out = Vec::new();
        self.sock.replies(&mut self.rx, seq, |m| {
            out.push(m.raw.to_vec());
            Ok(())
        })?;
        Ok(out)
    }

    fn dump<T>(&mut self, req: Request, pick: impl Fn(Reply) -> Option<T>) -> io::Result<Vec<T>> {
        self.dump_raw(req)?
            .iter()
            .map(|m| {
                let reply =
                    Reply::decode(m).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                pick(reply).ok_or_else(|| bad("IPVS dump answered the wrong kind"))
            })
            .collect()
    }

    pub fn services(&mut self) -> io::Result<Vec<Service>> {
        self.dump(Request::dump_services(), |r| match r {
            Reply::Service(s) => Some(s),
            Reply::Dest(_) => None,
        })
    }

    pub fn dests(&mut self, key: &ServiceKey) -> io::Result<Vec<Dest>> {
        self.dump(Request::dump_dests(key), |r| match r {
            Reply::Dest(d) => Some(d),
            Reply::Service(_) => None,
        })
    }

    /// The kernel's whole IPVS table, to adopt or diff against.
    pub fn state(&mut self) -> io::Result<State> {
        let mut state = State::default();
        for svc in self.services()? {
            let dests = self.dests(&svc.key)?;
            let entry = state.add_service(svc);
            for d in dests {
                entry.add_dest(d);
            }
        }
        Ok(state)
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}
