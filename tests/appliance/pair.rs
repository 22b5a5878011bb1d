//! Two appliance VMs as the demo pair (board/pc-x86_64/demo-nodes: a priority 150, b 100, VIP
//! 10.77.2.100), and who answers ARP for the VIP, every 50 ms, from the test's namespace
//! (iputils arping counts whole seconds): a small python3 prober on a packet socket prints the
//! sender MAC of every reply; a thread timestamps them here.

use crate::harness::{Netns, Vm, VmOptions, TOP};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const VIP: &str = "10.77.2.100";
/// The bridge's address in the namespace (`Netns::new`).
pub const HOST: &str = "10.77.2.1";

/// Boots VMs with `macs` (a, b) in `ns`, gives them the demo nodes' configuration and waits
/// until a is MASTER and b BACKUP.
pub fn boot_demo_pair(ns: &Netns, macs: [&str; 2], boot: Duration) -> Vec<Vm> {
    let mut vms: Vec<Vm> = macs
        .iter()
        .map(|mac| Vm::boot(VmOptions { netns: ns, mac }))
        .collect();
    let mut marks = Vec::new();
    for (vm, node) in vms.iter_mut().zip(["a", "b"]) {
        vm.wait_console(boot);
        marks.push(vm.mark());
        let dir = format!("{TOP}/board/pc-x86_64/demo-nodes/{node}");
        for f in ["keepalived.conf", "interfaces"] {
            let content = std::fs::read_to_string(format!("{dir}/{f}")).unwrap();
            vm.write_file(&format!("/config/{f}"), &content);
        }
        vm.ok("/etc/init.d/network && kill $(pidof keeplite)");
    }
    // The demo instance's lines (the factory default's VI_1 may have become MASTER before).
    vms[0].wait_after(
        marks[0],
        "VI_DEMO: BACKUP -> MASTER",
        Duration::from_secs(120),
    );
    vms[1].wait_after(
        marks[1],
        "VI_DEMO: INIT -> BACKUP",
        Duration::from_secs(120),
    );
    vms
}

/// Broadcasts an ARP request for TARGET from SRC on IFACE every 50 ms for SECONDS and prints
/// the sender MAC of every reply, one per line.
const ARP_PROBER: &str = r#"
import socket, struct, sys, time
ifname, src, target, secs = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((ifname, 0x0806))
mac = s.getsockname()[4]
tip = socket.inet_aton(target)
req = (b"\xff" * 6 + mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
       + mac + socket.inet_aton(src) + b"\0" * 6 + tip)
s.settimeout(0.01)
end, nxt = time.time() + secs, 0.0
while time.time() < end:
    if time.time() >= nxt:
        s.send(req)
        nxt = time.time() + 0.05
    try:
        f = s.recv(128)
    except socket.timeout:
        continue
    if f[20:22] == b"\0\x02" and f[28:32] == tip:
        print(f[22:28].hex(":"), flush=True)
"#;

pub type Replies = Vec<(Instant, String)>;

pub struct ArpProbe {
    child: Child,
    replies: Arc<Mutex<Replies>>,
}

impl ArpProbe {
    /// Probes the VIP from the bridge of `ns` for at most `secs` seconds.
    pub fn start(ns: &Netns, secs: u32) -> ArpProbe {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "python3", "-c", ARP_PROBER])
            .args(["br0", HOST, VIP, &secs.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let replies: Arc<Mutex<Replies>> = Arc::default();
        let (out, sink) = (child.stdout.take().unwrap(), Arc::clone(&replies));
        std::thread::spawn(move || {
            for mac in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push((Instant::now(), mac));
            }
        });
        ArpProbe { child, replies }
    }

    /// Stops probing; every reply so far, in order.
    pub fn stop(mut self) -> Replies {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::take(&mut *self.replies.lock().unwrap())
    }
}

impl Drop for ArpProbe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
