//! Checker settings from the configuration, with keepalived's precedence (url > checker >
//! virtual server; checker > virtual server for delay_loop).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::dns::DnsParams;
use super::file::FileParams;
use super::http::{parse_digest, HttpProtocol, StatusSet};
use super::udp::UdpParams;
use super::{CheckKind, CheckParams, ConnParams, HttpParams, MiscParams, UrlParams};
use crate::config;

/// keepalived's resolution of one checker's settings (initial delay left at zero); the real
/// server's address is not part of them ([`super::Checker::start`] takes it).
pub fn from_config(
    vs: &config::VirtualServer,
    rs: &config::RealServer,
    c: &config::Checker,
) -> CheckParams {
    let conn = ConnParams {
        connect_ip: c.connect_ip,
        connect_port: c.connect_port,
        bind: match (c.bindto, c.bind_port) {
            (Some(ip), port) => Some(SocketAddr::new(ip, port.unwrap_or(0))),
            (None, Some(port)) => {
                let any = match rs.addr {
                    IpAddr::V4(_) => IpAddr::from([0u8; 4]),
                    IpAddr::V6(_) => IpAddr::from([0u16; 8]),
                };
                Some(SocketAddr::new(any, port))
            }
            (None, None) => None,
        },
        connect_timeout: c.connect_timeout,
    };
    let http = |h: &config::HttpCheck, tls: bool| {
        CheckKind::Http(Box::new(HttpParams {
            urls: h
                .urls
                .iter()
                .map(|u| {
                    let mut status = StatusSet::empty();
                    for &(lo, hi) in &u.status_code {
                        status.insert_range(lo, hi);
                    }
                    UrlParams {
                        path: u.path.clone(),
                        digest: u.digest.as_deref().and_then(parse_digest),
                        status: if status.is_empty() {
                            StatusSet::default_2xx()
                        } else {
                            status
                        },
                        virtualhost: u.virtualhost.clone(),
                    }
                })
                .collect(),
            // url > checker > virtual server.
            virtualhost: h.virtualhost.clone().or_else(|| vs.virtualhost.clone()),
            protocol: HttpProtocol::default(),
            exchange_timeout: conn.connect_timeout * 3,
            tls,
            conn: conn.clone(),
        }))
    };
    let kind = match &c.kind {
        config::CheckKind::Tcp => CheckKind::Tcp(conn.clone()),
        config::CheckKind::Ping => CheckKind::Ping(conn.clone()),
        config::CheckKind::Dns(d) => CheckKind::Dns(Box::new(DnsParams {
            conn: conn.clone(),
            qtype: d.qtype,
            name: d.name.clone(),
        })),
        config::CheckKind::Http(h) => http(h, false),
        config::CheckKind::Ssl(h) => http(h, true),
        config::CheckKind::Udp(u) => CheckKind::Udp(Box::new(UdpParams {
            conn: conn.clone(),
            spec: u.clone(),
        })),
        config::CheckKind::Misc(m) => CheckKind::Misc(MiscParams {
            path: m.path.clone(),
            timeout: m.timeout,
            dynamic: m.dynamic,
        }),
        config::CheckKind::File(f) => CheckKind::File(Box::new(FileParams {
            path: f.path.clone(),
            weight: f.weight,
            reverse: f.reverse,
        })),
    };
    // keepalived is told of file changes at once (inotify); a read a second comes close.
    let delay_loop = match kind {
        CheckKind::File(_) => Duration::from_secs(1),
        _ => c.delay_loop.unwrap_or(vs.delay_loop),
    };
    CheckParams {
        kind,
        delay_loop,
        retry: c.retry,
        delay_before_retry: c.delay_before_retry,
        alpha: vs.alpha,
        initial_delay: Duration::ZERO,
    }
}

impl CheckParams {
    /// TCP, HTTP, SSL, MISC, UDP, PING or DNS, for logs and status.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            CheckKind::Tcp(_) => "TCP",
            CheckKind::Http(h) if h.tls => "SSL",
            CheckKind::Http(_) => "HTTP",
            CheckKind::Misc(_) => "MISC",
            CheckKind::Udp(_) => "UDP",
            CheckKind::Ping(_) => "PING",
            CheckKind::Dns(_) => "DNS",
            CheckKind::File(_) => "FILE",
        }
    }
}

/// A configuration from text, for the tests of the modules that build on it.
#[cfg(test)]
pub(crate) fn cfg(text: &str) -> config::Config {
    let opts = config::LoadOptions::default();
    let files = config::MemFiles::default();
    config::load_str(&files, std::path::Path::new("/k.conf"), text, &opts)
        .unwrap()
        .0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_settings_follow_keepalived_precedence() {
        let c = cfg(
            "virtual_server 192.0.2.1 80 {\n protocol TCP\n delay_loop 7\n \
             virtualhost vs.example\n inhibit_on_failure\n real_server 192.0.2.10 8080 {\n \
             HTTP_GET {\n url {\n path /a\n virtualhost url.example\n }\n url {\n path /b\n \
             status_code 200-204\n }\n }\n TCP_CHECK {\n connect_ip 192.0.2.11\n \
             connect_port 81\n bind_port 5000\n delay_loop 2\n }\n }\n}\n",
        );
        let vs = &c.virtual_servers[0];
        let rs = &vs.real_servers[0];
        let (_, p) = crate::ipvs::policy::from_config(&c, vs).unwrap();
        assert!(
            p.reals[0].inhibit_on_failure,
            "OR-ed from the virtual server"
        );
        let http = from_config(vs, rs, &rs.checkers[0]);
        assert_eq!(http.delay_loop, Duration::from_secs(7));
        assert_eq!(http.delay_before_retry, Duration::from_secs(3));
        let CheckKind::Http(h) = &http.kind else {
            panic!("{http:?}")
        };
        let real = "192.0.2.10:8080".parse().unwrap();
        assert_eq!(h.conn.dst(real), real);
        assert_eq!(h.virtualhost.as_deref(), Some("vs.example"));
        assert_eq!(h.urls[0].virtualhost.as_deref(), Some("url.example"));
        assert!(h.urls[0].status.contains(250) && !h.urls[0].status.contains(300));
        assert!(h.urls[1].status.contains(204) && !h.urls[1].status.contains(205));
        let tcp = from_config(vs, rs, &rs.checkers[1]);
        assert_eq!(tcp.delay_loop, Duration::from_secs(2));
        assert_eq!(
            tcp.kind,
            CheckKind::Tcp(ConnParams {
                connect_ip: Some("192.0.2.11".parse().unwrap()),
                connect_port: Some(81),
                bind: Some("0.0.0.0:5000".parse().unwrap()),
                connect_timeout: Duration::from_secs(5),
            })
        );
    }
}
