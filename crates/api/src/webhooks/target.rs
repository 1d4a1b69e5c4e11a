//! Which URLs a webhook may target (SSRF protection). A target must be `http` or `https`, name a
//! host, carry no credentials, and, unless the operator allows private targets, resolve only
//! to public addresses: never loopback, private (RFC 1918, unique-local), carrier-grade NAT,
//! link-local (the cloud metadata address 169.254.169.254 among them), unspecified, multicast,
//! documentation or reserved ranges, nor an IPv6 form that embeds such an IPv4 address, nor a
//! cloud metadata host name.
//!
//! The check runs twice: when the subscription is made (the answer is a 422), and at every
//! delivery, where [`PublicResolver`] is the HTTP client's DNS resolver. The client connects
//! only to the addresses the resolver let through, so a name that resolves to a public
//! address at subscribe time and to a private one later (DNS rebinding) is refused then.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use url::{Host, Url};

/// Longest target URL.
pub const MAX_URL_LENGTH: usize = 2048;
/// Longest wait for the DNS answer at subscribe time.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Host names of cloud metadata services, refused whatever they resolve to.
const METADATA_HOSTS: [&str; 5] = [
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
];

/// Why a target is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Longer than [`MAX_URL_LENGTH`].
    #[error("must be at most {MAX_URL_LENGTH} characters")]
    TooLong,
    /// Not an absolute URL.
    #[error("is not a valid URL")]
    Malformed,
    /// Neither `http` nor `https`.
    #[error("must be an http or https URL")]
    Scheme,
    /// A user name or password in the URL.
    #[error("must not carry credentials")]
    Credentials,
    /// A cloud metadata host name.
    #[error("names a cloud metadata service")]
    MetadataHost,
    /// An address that is not public (or a name resolving to one).
    #[error("resolves to a private, loopback, link-local or reserved address ({0})")]
    NotPublic(IpAddr),
    /// The name has no address.
    #[error("does not resolve")]
    Unresolved,
}

/// Whether private targets are allowed (`WEBHOOK_ALLOW_PRIVATE_TARGETS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Allow targets on loopback, private, link-local and metadata addresses.
    pub allow_private: bool,
}

impl TargetPolicy {
    /// Parses and checks a URL's form: scheme, host, no credentials, no metadata host name, and
    /// (for an address written in the URL) a public address.
    pub fn parse(&self, text: &str) -> Result<Url, TargetError> {
        if text.len() > MAX_URL_LENGTH {
            return Err(TargetError::TooLong);
        }
        let url = Url::parse(text).map_err(|_| TargetError::Malformed)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TargetError::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TargetError::Credentials);
        }
        match url.host() {
            None => return Err(TargetError::Malformed),
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if !self.allow_private && METADATA_HOSTS.contains(&name.as_str()) {
                    return Err(TargetError::MetadataHost);
                }
            }
            Some(Host::Ipv4(ip)) => self.check_address(IpAddr::V4(ip))?,
            Some(Host::Ipv6(ip)) => self.check_address(IpAddr::V6(ip))?,
        }
        Ok(url)
    }

    /// Checks a URL fully: its form, then every address its host resolves to (a name that
    /// resolves to any address that is not public is refused).
    pub async fn check(&self, text: &str) -> Result<Url, TargetError> {
        let url = self.parse(text)?;
        if let Some(Host::Domain(name)) = url.host() {
            let addresses = resolve(name).await?;
            for address in addresses {
                self.check_address(address.ip())?;
            }
        }
        Ok(url)
    }

    /// Refuses an address that is not public, unless private targets are allowed.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), TargetError> {
        if self.allow_private || is_public(ip) {
            Ok(())
        } else {
            Err(TargetError::NotPublic(ip))
        }
    }
}

/// The addresses of a host name, within [`RESOLVE_TIMEOUT`].
async fn resolve(name: &str) -> Result<Vec<SocketAddr>, TargetError> {
    let lookup = tokio::net::lookup_host((name.trim_end_matches('.'), 0));
    match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Ok(Ok(addresses)) => {
            let addresses: Vec<SocketAddr> = addresses.collect();
            if addresses.is_empty() {
                Err(TargetError::Unresolved)
            } else {
                Ok(addresses)
            }
        }
        _ => Err(TargetError::Unresolved),
    }
}

/// Whether an address is on the public internet: none of the special-purpose ranges.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0 // "this network", 0.0.0.0 included
        || a == 10 // private
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT, 100.64.0.0/10
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local: 169.254.169.254, the metadata service
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168) // private
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224; // multicast, reserved, broadcast
    !special
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    // An IPv4 address inside an IPv6 one is judged as the IPv4 address.
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let first = segments[0];
    let special = segments[..6] == [0; 6] // ::, ::1 and the deprecated IPv4-compatible form
        || (first == 0x0100 && segments[1..4] == [0; 3]) // discard-only, 100::/64
        || first == 0x2001 && segments[1] < 0x0200 // IETF protocols and Teredo, 2001::/23
        || (first == 0x2001 && segments[1] == 0x0db8) // documentation
        || (first & 0xfe00) == 0xfc00 // unique-local, fc00::/7 (fd00:ec2::254, AWS metadata)
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (first & 0xff00) == 0xff00; // multicast
    !special
}

/// The IPv4 address an IPv6 address carries: IPv4-mapped (`::ffff:a.b.c.d`), NAT64
/// (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let from = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    let mapped = s[..5] == [0; 5] && s[5] == 0xffff;
    let nat64 = s[0] == 0x0064 && s[1] == 0xff9b && s[2..6] == [0; 4];
    if mapped || nat64 {
        Some(from(s[6], s[7]))
    } else if s[0] == 0x2002 {
        Some(from(s[1], s[2]))
    } else {
        None
    }
}

/// The delivery client's DNS resolver: the system's answer, less every address the policy
/// refuses. A name left with none fails the request before any connection is made.
pub struct PublicResolver {
    /// The policy the addresses are held to.
    pub policy: TargetPolicy,
}

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = resolve(&host).await?;
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| policy.check_address(a.ip()).is_ok())
                .collect();
            if allowed.is_empty() {
                let refused = found.first().map(SocketAddr::ip);
                return Err(
                    Box::new(refused.map_or(TargetError::Unresolved, TargetError::NotPublic))
                        as Box<dyn std::error::Error + Send + Sync>,
                );
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: TargetPolicy = TargetPolicy {
        allow_private: false,
    };

    #[test]
    fn special_purpose_addresses_are_not_public() {
        for refused in [
            "127.0.0.1",
            "127.255.0.1",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:db8::1",
        ] {
            let ip: IpAddr = refused.parse().unwrap();
            assert!(!is_public(ip), "{refused} passed as public");
        }
        for allowed in [
            "93.184.215.14",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = allowed.parse().unwrap();
            assert!(is_public(ip), "{allowed} refused");
        }
    }

    #[test]
    fn the_url_form_is_checked_before_any_lookup() {
        let refuse = |url: &str| STRICT.parse(url).unwrap_err();
        assert_eq!(refuse("ftp://example.com/"), TargetError::Scheme);
        assert_eq!(refuse("not a url"), TargetError::Malformed);
        assert_eq!(
            refuse("https://user:pw@example.com/"),
            TargetError::Credentials
        );
        assert_eq!(
            refuse("http://metadata.google.internal./computeMetadata/v1/"),
            TargetError::MetadataHost
        );
        assert!(matches!(
            refuse("http://[::1]:8080/"),
            TargetError::NotPublic(_)
        ));
        // The WHATWG forms of an IPv4 address are normalised first: still loopback.
        assert!(matches!(
            refuse("http://2130706433/"),
            TargetError::NotPublic(_)
        ));
        assert!(matches!(
            refuse("http://0x7f.1/"),
            TargetError::NotPublic(_)
        ));
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LENGTH));
        assert_eq!(refuse(&long), TargetError::TooLong);
        assert!(STRICT
            .parse("https://hooks.example.com/running?x=1")
            .is_ok());
        let open = TargetPolicy {
            allow_private: true,
        };
        assert!(open.parse("http://127.0.0.1:9/").is_ok());
    }

    #[tokio::test]
    async fn a_name_is_judged_by_what_it_resolves_to() {
        assert!(matches!(
            STRICT.check("http://localhost:9/hook").await,
            Err(TargetError::NotPublic(_))
        ));
        assert_eq!(
            STRICT.check("http://does-not-exist.invalid/").await,
            Err(TargetError::Unresolved)
        );
    }
}
