//! Who answers ARP for an address, every 50 ms, from a test-owned network namespace (iputils
//! arping counts whole seconds): a small python3 prober on a packet socket prints the sender
//! MAC of every reply; a thread timestamps them here.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
    /// Probes `target` from `src` on `iface` of namespace `netns` for at most `secs` seconds.
    pub fn start(netns: &str, iface: &str, src: &str, target: &str, secs: u32) -> ArpProbe {
        let mut child = Command::new("ip")
            .args(["netns", "exec", netns, "python3", "-c", ARP_PROBER])
            .args([iface, src, target, &secs.to_string()])
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
