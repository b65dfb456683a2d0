//! Where `http` agents may send requests: the operator's `allow_http` list.
//!
//! An http agent's URL is a request the server makes on a caller's behalf, from inside the
//! operator's network, so nothing is reachable unless the operator listed it. An entry is a host
//! (`hooks.example`, `10.0.0.7`, `[::1]`), optionally with a port (`hooks.example:8443`), or a
//! network (`10.20.0.0/16`). A URL is allowed when its host and port match an entry, or its host
//! is an address inside a listed network. The addresses a name resolves to are checked again
//! when connecting, on every request: a loopback, private, link-local or other internal address
//! is used only if a listed network covers it or the entry names that address (or `localhost`)
//! itself, so a listed public name that starts resolving to 127.0.0.1 reaches nothing.
//! Redirects are never followed.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::Url;

/// One `allow_http` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Destination {
    /// A host name or address, lower-case, without brackets; any port when `None`.
    Host {
        name: String,
        port: Option<u16>,
    },
    Net(IpNet),
}

impl FromStr for Destination {
    type Err = String;

    fn from_str(entry: &str) -> Result<Self, String> {
        let entry = entry.trim();
        let bad = |why: &str| format!("allow_http entry {entry:?}: {why}");
        if entry.contains('/') {
            return entry
                .parse::<IpNet>()
                .map(|net| Destination::Net(net.trunc()))
                .map_err(|_| bad("not a network such as 10.0.0.0/8"));
        }
        let (name, port) = if let Some(rest) = entry.strip_prefix('[') {
            let (address, after) = rest.split_once(']').ok_or_else(|| bad("no closing ]"))?;
            let port = match after.strip_prefix(':') {
                Some(port) => Some(port),
                None if after.is_empty() => None,
                None => return Err(bad("expected :PORT after the address")),
            };
            (address, port)
        } else if entry.matches(':').count() > 1 {
            (entry, None) // an IPv6 address without brackets, hence without port
        } else {
            match entry.split_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (entry, None),
            }
        };
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| bad("the port is not a number"))
            })
            .transpose()?;
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let valid = !name.is_empty()
            && (name.parse::<IpAddr>().is_ok()
                || name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
        if !valid {
            return Err(bad("not a host name or address"));
        }
        Ok(Destination::Host { name, port })
    }
}

/// The parsed `allow_http` list.
#[derive(Debug, Clone, Default)]
pub struct HttpDestinations {
    entries: Vec<Destination>,
}

impl HttpDestinations {
    pub fn parse(list: &[String]) -> Result<Self, String> {
        let entries = list.iter().map(|e| e.parse()).collect::<Result<_, _>>()?;
        Ok(Self { entries })
    }

    /// Whether requests to `url` may be made at all; the reason if not.
    pub fn allows_url(&self, url: &Url) -> Result<(), String> {
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "credentials in the URL are refused: they would be shown to every reader of the agent"
                    .into(),
            );
        }
        let host = host_of(url).ok_or("the URL has no host")?;
        let port = url.port_or_known_default();
        let ip = host.parse::<IpAddr>().ok();
        let listed = self.entries.iter().any(|entry| match entry {
            Destination::Host { name, port: want } => {
                *name == host && want.is_none_or(|want| Some(want) == port)
            }
            Destination::Net(net) => ip.is_some_and(|ip| net.contains(&ip)),
        });
        if !listed {
            return Err(format!(
                "{host}{} is not among the destinations this server allows (--allow-http)",
                port.map(|p| format!(":{p}")).unwrap_or_default()
            ));
        }
        match ip {
            Some(ip) if !self.allows_address(&host, ip) => Err(internal(&host, ip)),
            _ => Ok(()),
        }
    }

    /// Whether `ip`, one address of `host`, may be connected to.
    pub fn allows_address(&self, host: &str, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        if !internal_address(ip) {
            return true;
        }
        self.entries.iter().any(|entry| match entry {
            Destination::Net(net) => net.contains(&ip),
            Destination::Host { name, .. } => {
                name == host && (name == "localhost" || name.parse::<IpAddr>().is_ok())
            }
        })
    }
}

fn internal(host: &str, ip: IpAddr) -> String {
    format!("{host} is at {ip}, an internal address no allow_http network covers")
}

/// The URL's host as entries name it: lower-case, without brackets or a final dot.
fn host_of(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some(host.trim_end_matches('.').to_ascii_lowercase())
}

/// Addresses inside a host or its network rather than on the internet: loopback, private,
/// link-local, shared (carrier-grade NAT), unspecified, multicast and broadcast.
fn internal_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || a >= 240
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
        }
    }
}

/// Resolves names for the http agents' client, keeping only addresses the list allows: the
/// check happens where the connection's address is chosen, so no later resolution can differ.
pub struct GuardedResolver(pub Arc<HttpDestinations>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let destinations = self.0.clone();
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| destinations.allows_address(&host, a.ip()))
                .collect();
            if allowed.is_empty() {
                let why = match found.first() {
                    Some(a) => internal(&host, a.ip()),
                    None => format!("{host} has no address"),
                };
                return Err(why.into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> HttpDestinations {
        HttpDestinations::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn allows(list: &HttpDestinations, url: &str) -> bool {
        list.allows_url(&Url::parse(url).unwrap()).is_ok()
    }

    #[test]
    fn urls_are_allowed_by_host_port_or_network() {
        let l = list(&[
            "hooks.example:8443",
            "api.example",
            "10.20.0.0/16",
            "127.0.0.1:9000",
        ]);
        assert!(allows(&l, "https://hooks.example:8443/x"));
        assert!(!allows(&l, "https://hooks.example/x"), "another port");
        assert!(allows(&l, "http://API.example./run"));
        assert!(allows(&l, "http://10.20.3.4:81/"));
        assert!(allows(&l, "http://127.0.0.1:9000/"));
        assert!(!allows(&l, "http://127.0.0.1:9001/"));
        assert!(
            !allows(&l, "http://localhost:9000/"),
            "names are not addresses"
        );
        assert!(!allows(&l, "http://10.21.0.1/"));
        assert!(!allows(&l, "http://user:pw@api.example/"), "credentials");
        assert!(!allows(&HttpDestinations::default(), "http://api.example/"));
    }

    #[test]
    fn internal_addresses_of_a_listed_name_need_a_network_that_covers_them() {
        let l = list(&["api.example", "localhost", "[::1]:80", "192.168.1.0/24"]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(l.allows_address("api.example", ip("93.184.216.34")));
        for internal in [
            "127.0.0.1",
            "10.0.0.1",
            "169.254.169.254",
            "::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
            "100.64.0.1",
        ] {
            assert!(!l.allows_address("api.example", ip(internal)), "{internal}");
        }
        assert!(
            l.allows_address("api.example", ip("192.168.1.9")),
            "a listed network"
        );
        assert!(
            l.allows_address("localhost", ip("127.0.0.1")),
            "named itself"
        );
        assert!(l.allows_address("::1", ip("::1")));
    }

    #[test]
    fn malformed_entries_are_refused_with_the_entry_named() {
        for bad in ["10.0.0.0/33", "host:port", "[::1", "a b", ""] {
            let error = HttpDestinations::parse(&[bad.to_owned()]).unwrap_err();
            assert!(error.contains("allow_http entry"), "{bad}: {error}");
        }
    }
}
