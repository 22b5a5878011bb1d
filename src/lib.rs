//! keeplite: a keepalived-compatible failover daemon (VRRP v2/v3, virtual IPs, IPVS, checks).
//!
//! Layout: pure, sans-IO logic (`config`, `proto`, `vrrp`, `check`, `ipvs`) takes `now` and
//! inputs and returns actions plus the next deadline; `netlink` is the message framing shared
//! by rtnetlink and generic netlink; only `sys` touches the operating system.

pub mod check;
pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod ipvs;
pub mod netlink;
pub mod proto;
pub mod smtp;
pub mod sys;
pub mod upgrade;
pub mod vrrp;
