//! IPVS (the kernel's L4 load balancer): wire codec, desired-state model, reconciliation plan
//! and the health -> destination policy. Pure; the netlink socket lives in `crate::sys::ipvs`.

pub mod error;
pub mod model;
pub mod plan;
pub mod policy;
pub mod syncd;
pub mod wire;
