//! The reload path without the OS: arbitrary configuration text -> model -> units ->
//! reconfiguration of a fixed running configuration (masters and backups, a sync group),
//! as the daemon does on SIGHUP. Nothing may panic; an accepted in-place reconfiguration
//! keeps every instance's state unless a tracker fault says otherwise, and every advert
//! it sends parses back.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use keeplite::config::{load_str, LoadOptions, MemFiles};
use keeplite::proto::vrrp::{Packet, Repr, RxMeta};
use keeplite::vrrp::plan::{self, needs_restart, Resolved, UnitKey};
use keeplite::vrrp::{Action, Event, Instance, State, Vrrp};
use libfuzzer_sys::fuzz_target;

const RUNNING: &str = "
global_defs {
  vip_lease 6
}
vrrp_script chk {
  script /bin/true
}
vrrp_sync_group G {
  group {
    A
    B
  }
}
vrrp_instance A {
  interface eth0
  virtual_router_id 1
  priority 150
  advert_int 1
  virtual_ipaddress {
    192.0.2.1/24
    192.0.2.2
  }
  track_script {
    chk
  }
}
vrrp_instance B {
  interface eth0
  virtual_router_id 2
  priority 150
  version 3
  advert_int 0.5
  virtual_ipaddress {
    192.0.2.3
  }
  virtual_ipaddress_excluded {
    192.0.2.9
  }
}
vrrp_instance C {
  interface eth0
  virtual_router_id 3
  priority 255
  unicast_src_ip 192.0.2.200
  unicast_peer {
    192.0.2.201
  }
  virtual_ipaddress {
    192.0.2.4
  }
}
vrrp_instance D {
  interface eth1
  virtual_router_id 3
  priority 50
  nopreempt
  authentication {
    auth_type PASS
    auth_pass secret
  }
  virtual_ipaddress {
    192.0.2.5
  }
}
";

fn keys(text: &str) -> Option<Vec<UnitKey>> {
    let fs = MemFiles::default();
    let (cfg, _) = load_str(&fs, Path::new("/k.conf"), text, &LoadOptions::default()).ok()?;
    Some(plan::unit_keys(&cfg))
}

fn params(key: &UnitKey) -> Vec<keeplite::vrrp::Params> {
    key.instances
        .iter()
        .map(|inst| {
            let os = Resolved {
                link: if inst.interface == "eth0" { 2 } else { 3 },
                src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 200)),
                tracker_up: vec![true; plan::trackers(inst, key).len()],
                file_values: vec![None; plan::trackers(inst, key).len()],
            };
            plan::params(inst, key, &os)
        })
        .collect()
}

/// Drains events; every advert must parse back.
fn drain(v: &mut Vrrp) {
    while let Some(e) = v.poll_event() {
        if let Event::Instance(_, Action::Transmit { src, dst, bytes }) = e {
            let meta = RxMeta { src, dst, ttl: 255 };
            let p = Packet::new_checked(&bytes[..]).expect("advert header");
            Repr::parse(&p, &meta).expect("an advert we send parses");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(new_keys) = keys(text) else {
        return;
    };
    let t0 = Instant::now();
    let mut running: Vec<(UnitKey, Vrrp)> = keys(RUNNING)
        .expect("the running configuration loads")
        .into_iter()
        .map(|k| {
            let insts = params(&k)
                .into_iter()
                .map(|p| Instance::new(p).expect("valid running params"))
                .collect();
            let groups = plan::group_params(&k, k.instances.len());
            let mut v = Vrrp::new(insts, groups).expect("valid running groups");
            v.start(t0);
            drain(&mut v);
            (k, v)
        })
        .collect();
    // Masters and backups both: run until the owner and the lone instances settled.
    let now = t0 + Duration::from_secs(5);
    for (_, v) in &mut running {
        v.handle_timeout(now);
        drain(v);
    }
    let names = |k: &UnitKey| {
        k.instances
            .iter()
            .map(|i| i.name.clone())
            .collect::<Vec<_>>()
    };
    for (old, v) in &mut running {
        if new_keys.contains(old) {
            continue;
        }
        let Some(new) = new_keys.iter().find(|k| names(k) == names(old)) else {
            continue;
        };
        let pairs = old.instances.iter().zip(&new.instances);
        if pairs.clone().any(|(a, b)| needs_restart(a, b).is_some()) {
            continue;
        }
        for (a, b) in pairs {
            let _ = plan::summary(a, b);
        }
        let before: Vec<State> = v.instances().iter().map(Instance::state).collect();
        let groups = plan::group_params(new, new.instances.len());
        if v.reconfigure(now, params(new), &groups).is_ok() {
            for (i, s) in v.instances().iter().zip(before) {
                // A state changes in place only through a (tracker or group) fault.
                assert!(
                    i.state() == s || i.state() == State::Fault || s == State::Fault,
                    "{s:?} -> {:?} on reload",
                    i.state()
                );
            }
        }
        drain(v);
        let later = now + Duration::from_secs(60);
        v.handle_timeout(later);
        drain(v);
    }
});
