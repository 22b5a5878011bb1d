//! The IPVS generic-netlink socket: family resolution, batched operations, dumps.
//!
//! The kernel handles netlink requests synchronously inside `sendmsg`, so every reply is
//! already queued when `recv` is called: the socket never waits on anything but the kernel,
//! which keeps it usable from the single event-loop thread.

use std::io;

use netlink_packet_core::{
    NetlinkBuffer, NetlinkMessage, NetlinkPayload, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlMessage;
use netlink_sys::{protocols::NETLINK_GENERIC, Socket};

use crate::ipvs::error::OpError;
use crate::ipvs::model::{Dest, Service, ServiceKey, State};
use crate::ipvs::plan::Op;
use crate::ipvs::wire::{Reply, Request, IPVS_GENL_NAME};

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
    seq: u32,
    tx: Vec<u8>,
    rx: Vec<u8>,
}

impl IpvsSocket {
    /// Opens a generic-netlink socket and resolves the "IPVS" family.
    pub fn open() -> io::Result<Self> {
        let mut sock = Socket::new(NETLINK_GENERIC)?;
        sock.bind_auto()?;
        sock.connect(&netlink_sys::SocketAddr::new(0, 0))?;
        // Errors then carry only the header of the failed request, not a copy of it.
        sock.set_cap_ack(true)?;
        sock.set_rx_buf_sz(RX_BUF)?;
        let mut s = IpvsSocket {
            sock,
            family: 0,
            seq: 0,
            tx: Vec::with_capacity(64 * 1024),
            rx: Vec::with_capacity(RX_DATAGRAM),
        };
        s.family = s.resolve_family()?;
        Ok(s)
    }

    fn resolve_family(&mut self) -> io::Result<u16> {
        let mut msg = NetlinkMessage::from(GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(IPVS_GENL_NAME.into())],
        }));
        msg.header.flags = NLM_F_REQUEST;
        msg.header.sequence_number = self.next_seq();
        msg.finalize();
        let mut buf = vec![0; msg.buffer_len()];
        msg.serialize(&mut buf);
        self.sock.send(&buf, 0)?;
        self.recv()?;
        let reply = NetlinkMessage::<GenlMessage<GenlCtrl>>::deserialize(&self.rx)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        match reply.payload {
            NetlinkPayload::InnerMessage(m) => m
                .payload
                .nlas
                .iter()
                .find_map(|a| match a {
                    GenlCtrlAttrs::FamilyId(id) => Some(*id),
                    _ => None,
                })
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no family id")),
            NetlinkPayload::Error(e) if e.raw_code() == -libc::ENOENT => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "error: IPVS is not available in this kernel (no generic netlink family \
                 \"IPVS\")\n  = help: load the module: `modprobe ip_vs`",
            )),
            NetlinkPayload::Error(e) => Err(e.to_io()),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected reply to CTRL_CMD_GETFAMILY: {other:?}"),
            )),
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn recv(&mut self) -> io::Result<()> {
        self.rx.clear();
        self.sock.recv(&mut self.rx, 0)?;
        Ok(())
    }

    /// Appends one request to the transmit buffer; returns its sequence number.
    fn push(&mut self, req: Request, flags: u16) -> u32 {
        let seq = self.next_seq();
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
            self.sock.send(&self.tx, 0)?;
            let mut acked = 0;
            while acked < chunk.len() {
                self.recv()?;
                for_each_message(&self.rx, |m| {
                    if m.kind != NLMSG_ERROR {
                        return Ok(());
                    }
                    // Acks left over from an earlier call that failed midway are not ours.
                    let idx = m.seq.wrapping_sub(first) as usize;
                    let Some(op) = chunk.get(idx) else {
                        return Ok(());
                    };
                    let code = m.error_code()?;
                    if code != 0 {
                        failed.push(OpError {
                            op: *op,
                            errno: -code,
                        });
                    }
                    acked += 1;
                    Ok(())
                })?;
            }
        }
        Ok(failed)
    }

    /// Runs one dump request and returns the raw netlink messages of the reply (without the
    /// final NLMSG_DONE), e.g. to capture kernel replies for tests.
    pub fn dump_raw(&mut self, req: Request) -> io::Result<Vec<Vec<u8>>> {
        self.tx.clear();
        let seq = self.push(req, NLM_F_REQUEST | NLM_F_DUMP);
        self.sock.send(&self.tx, 0)?;
        let mut out = Vec::new();
        loop {
            self.recv()?;
            let mut done = false;
            for_each_message(&self.rx, |m| {
                if m.seq != seq {
                    return Ok(()); // left over from an earlier call that failed midway
                }
                match m.kind {
                    NLMSG_DONE => done = true,
                    NLMSG_ERROR => return Err(io::Error::from_raw_os_error(-m.error_code()?)),
                    _ => out.push(m.raw.to_vec()),
                }
                Ok(())
            })?;
            if done {
                return Ok(out);
            }
        }
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

/// One netlink message of a received datagram.
struct Msg<'a> {
    kind: u16,
    seq: u32,
    /// The whole message, header included.
    raw: &'a [u8],
    payload: &'a [u8],
}

impl Msg<'_> {
    /// The error code of an NLMSG_ERROR (0 = ack).
    fn error_code(&self) -> io::Result<i32> {
        let code = self
            .payload
            .get(..4)
            .ok_or_else(|| bad("short netlink ack"))?;
        Ok(i32::from_ne_bytes(code.try_into().expect("4 bytes")))
    }
}

/// Walks the netlink messages of one datagram.
fn for_each_message(buf: &[u8], mut f: impl FnMut(Msg) -> io::Result<()>) -> io::Result<()> {
    let mut off = 0;
    while off < buf.len() {
        let nl = NetlinkBuffer::new_checked(&buf[off..])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let len = nl.length() as usize;
        f(Msg {
            kind: nl.message_type(),
            seq: nl.sequence_number(),
            raw: &buf[off..off + len],
            payload: &buf[off + 16..off + len],
        })?;
        off += (len + 3) & !3;
    }
    Ok(())
}
