//! What the kernel refused, explained to the user.

use std::fmt;
use std::net::SocketAddr;

use super::model::{DestKey, Service, ServiceKey};
use super::plan::Op;

/// The kernel rejected one operation of a plan (errno from its netlink ack).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpError {
    pub op: Op,
    /// Positive errno.
    pub errno: i32,
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let svc = |verb: &str, s: &Service| format!("{verb} virtual server {}", s.key);
        let dest = |verb: &str, k: &ServiceKey, d: &DestKey| {
            format!(
                "{verb} real server {} of {k}",
                SocketAddr::new(d.addr, d.port)
            )
        };
        let what = match &self.op {
            Op::AddService(s) => svc("add", s),
            Op::EditService(s) => svc("update", s),
            Op::DelService(k) => format!("remove virtual server {k}"),
            Op::AddDest(k, d) => dest("add", k, &d.key),
            Op::EditDest(k, d) => dest("update", k, &d.key),
            Op::DelDest(k, d) => dest("remove", k, d),
        };
        write!(f, "error: cannot {what}: ")?;
        match (&self.op, self.errno) {
            (Op::AddService(s) | Op::EditService(s), libc::ENOENT) => {
                let sched = s.params.scheduler;
                write!(
                    f,
                    "scheduler `{sched}` is not available in this kernel\n  \
                     = help: load its module: `modprobe ip_vs_{sched}` (or pick another lb_algo)"
                )
            }
            (_, libc::EEXIST) => f.write_str("it already exists in the kernel"),
            (_, libc::ESRCH) => f.write_str("no such virtual server in the kernel"),
            (Op::DelDest(..) | Op::EditDest(..), libc::ENOENT) => {
                f.write_str("no such real server in the kernel")
            }
            (_, libc::EPERM) => f.write_str(
                "operation not permitted\n  = help: keeplite needs CAP_NET_ADMIN to program IPVS",
            ),
            (_, errno) => write!(f, "{}", std::io::Error::from_raw_os_error(errno)),
        }
    }
}

impl std::error::Error for OpError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::model::*;

    #[test]
    fn missing_scheduler_names_the_module() {
        let op = Op::AddService(Service {
            key: ServiceKey::Fwmark {
                family: Family::V4,
                mark: 3,
            },
            params: ServiceParams {
                scheduler: Scheduler::Twos,
                persistence: None,
                flags: 0,
            },
        });
        let msg = OpError {
            op,
            errno: libc::ENOENT,
        }
        .to_string();
        assert_eq!(
            msg,
            "error: cannot add virtual server FWM 3: scheduler `twos` is not available in this \
             kernel\n  = help: load its module: `modprobe ip_vs_twos` (or pick another lb_algo)"
        );
    }
}
