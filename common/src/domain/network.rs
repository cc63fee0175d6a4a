//! Project networks: the address pool their subnets are cut from, and what
//! state a project's network is in.
//!
//! Each project's network gets an explicit subnet from a configured pool
//! (`CONTAXY_NETWORK_POOL`, cut into `/CONTAXY_NETWORK_PREFIX_LEN` blocks),
//! so the runtime never draws from its own small default pools (Docker's
//! allow about 30 networks). Which block belongs to whom is recorded in
//! PostgreSQL (`store::networks`); this module is the arithmetic.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// The longest prefix a project subnet may have: a /29 leaves the gateway
/// and five containers; anything smaller is of no use.
pub const MAX_SUBNET_PREFIX_LEN: u8 = 29;

/// An IPv4 range cut into equal, aligned subnets, handed out lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubnetPool {
    range: Ipv4Net,
    prefix_len: u8,
}

/// Why a pool setting is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// Not `a.b.c.d/n`.
    #[error("{0:?} is not an IPv4 CIDR such as 10.96.0.0/14")]
    NotCidr(String),
    /// The address is not the first of its range.
    #[error("{given} has host bits set; the range would be {truncated}")]
    HostBits {
        /// As configured.
        given: String,
        /// What was probably meant.
        truncated: String,
    },
    /// The subnet size does not fit the range.
    #[error(
        "a subnet prefix length of {prefix_len} does not fit {range}: it must be between {} and {MAX_SUBNET_PREFIX_LEN}",
        range.prefix_len()
    )]
    PrefixLen {
        /// The range.
        range: Ipv4Net,
        /// The asked prefix length.
        prefix_len: u8,
    },
}

impl SubnetPool {
    /// The pool `range` (e.g. `10.96.0.0/14`) cut into `/prefix_len` subnets.
    pub fn new(range: &str, prefix_len: u8) -> Result<Self, PoolError> {
        let parsed: Ipv4Net = range
            .trim()
            .parse()
            .map_err(|_| PoolError::NotCidr(range.to_owned()))?;
        if parsed.trunc() != parsed {
            return Err(PoolError::HostBits {
                given: range.to_owned(),
                truncated: parsed.trunc().to_string(),
            });
        }
        if prefix_len < parsed.prefix_len() || prefix_len > MAX_SUBNET_PREFIX_LEN {
            return Err(PoolError::PrefixLen {
                range: parsed,
                prefix_len,
            });
        }
        Ok(Self {
            range: parsed,
            prefix_len,
        })
    }

    /// The whole range.
    pub fn range(&self) -> Ipv4Net {
        self.range
    }

    /// The prefix length of each subnet.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// How many subnets the pool holds.
    pub fn capacity(&self) -> u64 {
        1 << (self.prefix_len - self.range.prefix_len())
    }

    /// The lowest subnet of the pool that overlaps none of `taken` (which
    /// may hold subnets of any size, inside the pool or not).
    pub fn lowest_free(&self, taken: &[Ipv4Net]) -> Option<Ipv4Net> {
        let size = 1u64 << (32 - u32::from(self.prefix_len));
        let end = span(self.range).1;
        let mut spans: Vec<(u64, u64)> = taken.iter().copied().map(span).collect();
        spans.sort_unstable();
        let mut candidate = span(self.range).0;
        for (start, stop) in spans {
            if stop <= candidate {
                continue;
            }
            if start >= candidate + size {
                // Spans are sorted by start: nothing later reaches back.
                break;
            }
            candidate = stop.div_ceil(size) * size;
        }
        if candidate + size > end {
            return None;
        }
        let address = Ipv4Addr::from(u32::try_from(candidate).ok()?);
        Ipv4Net::new(address, self.prefix_len).ok()
    }
}

/// `[first address, one past the last)` of `net`, as integers.
fn span(net: Ipv4Net) -> (u64, u64) {
    let first = u64::from(u32::from(net.network()));
    let last = u64::from(u32::from(net.broadcast()));
    (first, last + 1)
}

/// `{namespace}-p-{project}-network`: the name of a project's network, as
/// contaxy names them (on Docker, the network's name).
pub fn network_name(namespace: &str, project_id: &str) -> String {
    format!("{namespace}-p-{project_id}-network")
}

/// The gateway of a project subnet: its first host address.
pub fn gateway_of(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()).saturating_add(1))
}

/// Where a project's network stands. A row in `networks` holds the subnet
/// from `allocated` until the network is removed; `blocked` rows belong to
/// no project and keep the allocator away from a subnet the runtime refused
/// (it overlaps something outside contaxy's records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum NetworkStatus {
    /// The subnet is the project's; the runtime may not have the network yet.
    Allocated,
    /// The runtime has the network with this subnet.
    Ready,
    /// Being removed; the row goes once the runtime's network is gone.
    Deleting,
    /// Held back from allocation for a while (no project).
    Blocked,
}

impl NetworkStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allocated => "allocated",
            Self::Ready => "ready",
            Self::Deleting => "deleting",
            Self::Blocked => "blocked",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().expect("a CIDR")
    }

    #[test]
    fn a_pool_is_cut_into_aligned_subnets() {
        let pool = SubnetPool::new("10.96.0.0/14", 24).expect("valid");
        assert_eq!(pool.capacity(), 1024);
        assert_eq!(pool.lowest_free(&[]), Some(net("10.96.0.0/24")));
        assert_eq!(
            SubnetPool::new("10.1.2.0/24", 24)
                .expect("valid")
                .capacity(),
            1
        );
        assert_eq!(
            SubnetPool::new("172.20.0.0/16", 26)
                .expect("valid")
                .capacity(),
            1024
        );
    }

    #[test]
    fn bad_pools_are_refused_with_the_reason() {
        assert!(matches!(
            SubnetPool::new("10.96.0.0", 24),
            Err(PoolError::NotCidr(_))
        ));
        assert!(matches!(
            SubnetPool::new("fd00::/8", 24),
            Err(PoolError::NotCidr(_))
        ));
        let error = SubnetPool::new("10.96.1.0/14", 24).unwrap_err();
        assert!(error.to_string().contains("10.96.0.0/14"), "{error}");
        for bad in [13, 30, 32] {
            assert!(
                matches!(
                    SubnetPool::new("10.96.0.0/14", bad),
                    Err(PoolError::PrefixLen { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_lowest_free_subnet_skips_whatever_overlaps() {
        let pool = SubnetPool::new("10.8.0.0/22", 24).expect("valid");
        let first = pool.lowest_free(&[net("10.8.0.0/24")]);
        assert_eq!(first, Some(net("10.8.1.0/24")));
        // A hole is reused before the end.
        let taken = [net("10.8.0.0/24"), net("10.8.2.0/24")];
        assert_eq!(pool.lowest_free(&taken), Some(net("10.8.1.0/24")));
        // Taken subnets of other sizes, unsorted, and outside the pool.
        let taken = [
            net("10.8.1.128/25"),
            net("192.168.0.0/16"),
            net("10.8.0.0/23"),
        ];
        assert_eq!(pool.lowest_free(&taken), Some(net("10.8.2.0/24")));
        // A larger block covering the start.
        assert_eq!(pool.lowest_free(&[net("10.8.0.0/16")]), None);
        assert_eq!(
            pool.lowest_free(&[net("10.8.0.0/23"), net("10.8.1.0/24")]),
            Some(net("10.8.2.0/24"))
        );
    }

    #[test]
    fn a_full_pool_has_nothing_free() {
        let pool = SubnetPool::new("10.8.0.0/23", 24).expect("valid");
        let taken = [net("10.8.1.0/24"), net("10.8.0.0/24")];
        assert_eq!(pool.lowest_free(&taken), None);
        // The very top of the address space does not overflow.
        let top = SubnetPool::new("255.255.255.0/24", 24).expect("valid");
        assert_eq!(top.lowest_free(&[]), Some(net("255.255.255.0/24")));
        assert_eq!(top.lowest_free(&[net("255.255.255.0/24")]), None);
    }

    #[test]
    fn every_subnet_of_a_pool_is_handed_out_once() {
        let pool = SubnetPool::new("10.9.0.0/20", 24).expect("valid");
        let mut taken = Vec::new();
        while let Some(next) = pool.lowest_free(&taken) {
            assert!(pool.range().contains(&next));
            assert!(taken.iter().all(|t: &Ipv4Net| !t.contains(&next)));
            taken.push(next);
        }
        assert_eq!(taken.len() as u64, pool.capacity());
    }

    #[test]
    fn the_gateway_is_the_first_host() {
        assert_eq!(gateway_of(net("10.96.3.0/24")), Ipv4Addr::new(10, 96, 3, 1));
    }
}
