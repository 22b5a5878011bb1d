//! The receive path: one datagram from a VRRP raw socket, through every RFC 5798 §7.1
//! check, to the instance it is for, across all the daemon's units. Pure: the shell reads
//! the socket and drains the events of the unit named in the [`Delivery`].

use std::time::Instant;

use super::Vrrp;
use crate::proto::vrrp::{Datagram, Error};

/// Where a datagram went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Unit (index in the iteration order given) and instance the datagram was for, if
    /// any; that unit may have events to drain.
    pub to: Option<(usize, usize)>,
    /// Why it was dropped, if it was. Counted already: against the instance, or in
    /// [`Receiver::unattributed`].
    pub result: Result<(), Error>,
}

/// Receive-error counters for datagrams no instance could be blamed for.
#[derive(Debug, Clone, Default)]
pub struct Receiver {
    unattributed: [u64; Error::COUNT],
}

impl Receiver {
    /// Counters indexed by [`Error::index`].
    pub fn unattributed(&self) -> &[u64; Error::COUNT] {
        &self.unattributed
    }

    /// Counts a datagram the socket could not even deliver whole.
    pub fn record(&mut self, e: Error) {
        self.unattributed[e.index()] += 1;
    }

    /// Routes `dgram`, received on interface `link`, to its instance among `units` and
    /// applies RFC 5798 §7.1 there ([`super::Instance::handle_datagram`]). The unicast peer
    /// filter and the VRID lookup happen here, so several instances may share a VRID on
    /// one interface as long as their peers differ (keepalived allows it).
    pub fn handle_datagram<'u>(
        &mut self,
        now: Instant,
        link: u32,
        dgram: &Datagram<'_>,
        units: impl IntoIterator<Item = &'u mut Vrrp>,
    ) -> Delivery {
        let dropped = |e: Error| Delivery {
            to: None,
            result: Err(e),
        };
        let (meta, msg) = match dgram.split() {
            Ok(x) => x,
            Err(e) => {
                self.record(e);
                return dropped(e);
            }
        };
        // §7.1: MUST verify the packet holds the VRRP header; the VRID is its second byte.
        let Some(&vrid) = msg.get(1) else {
            self.record(Error::Truncated);
            return dropped(Error::Truncated);
        };
        let mut stranger = None;
        for (u, vrrp) in units.into_iter().enumerate() {
            match vrrp.route(link, vrid, &meta.src) {
                Some(Ok(i)) => {
                    return Delivery {
                        to: Some((u, i)),
                        result: vrrp.handle_datagram(now, i, &meta, msg),
                    }
                }
                Some(Err(i)) if stranger.is_none() => stranger = Some((u, i, vrrp)),
                _ => {}
            }
        }
        match stranger {
            // keepalived: "unicast source address ... not a unicast peer".
            Some((u, i, vrrp)) => {
                vrrp.record_rx_error(i, Error::Peer);
                Delivery {
                    to: Some((u, i)),
                    result: Err(Error::Peer),
                }
            }
            // §7.1: MUST verify that the VRID is configured on the receiving interface.
            None => {
                self.record(Error::Vrid);
                dropped(Error::Vrid)
            }
        }
    }
}
