//! Gratuitous ARP and unsolicited NA: whole Ethernet frames (built by `proto::arp` /
//! `proto::ndisc`, the NA with its IPv6 hop limit 255 already in place) sent through an
//! AF_PACKET socket on the VIP's interface. Send-only: protocol 0 means nothing is received.

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::{cvt, cvt_size};

pub struct FrameSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl AsRawFd for FrameSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl FrameSocket {
    pub fn open(ifindex: u32) -> io::Result<Self> {
        // SAFETY: plain syscall; the fd is owned right below.
        let raw = cvt(unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        })?;
        // SAFETY: `raw` is a fresh fd owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(FrameSocket { fd, ifindex })
    }

    /// Sends one complete Ethernet frame (destination MAC first) out of the interface.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        if frame.len() < 14 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "short frame"));
        }
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = self.ifindex as i32;
        sll.sll_protocol = u16::from_ne_bytes([frame[12], frame[13]]);
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: `frame` and `sll` are valid for the lengths passed.
        cvt_size(unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        Ok(())
    }
}
