//! Project networks as the runtime sees them.

use std::net::Ipv4Addr;

use super::error::RuntimeError;

/// An explicit IPv4 subnet for a project network, with an optional gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetSpec {
    /// CIDR, e.g. `10.201.3.0/24`.
    pub cidr: String,
    /// Gateway inside the subnet; the engine picks one when absent.
    pub gateway: Option<String>,
}

impl SubnetSpec {
    /// A subnet with the engine's choice of gateway.
    pub fn new(cidr: impl Into<String>) -> Self {
        Self {
            cidr: cidr.into(),
            gateway: None,
        }
    }

    /// Checks the CIDR is a network address with a prefix of /8 to /30 and
    /// that the gateway is a host of it.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let bad = |reason: String| RuntimeError::invalid("subnet", reason);
        let (address, prefix) = self
            .cidr
            .split_once('/')
            .ok_or_else(|| bad(format!("{:?} is not a CIDR like 10.1.2.0/24", self.cidr)))?;
        let address: Ipv4Addr = address
            .parse()
            .map_err(|_| bad(format!("{:?} has no IPv4 address", self.cidr)))?;
        let prefix: u32 = prefix
            .parse()
            .ok()
            .filter(|p| (8..=30).contains(p))
            .ok_or_else(|| bad(format!("{:?} needs a prefix length 8-30", self.cidr)))?;
        let mask = u32::MAX << (32 - prefix);
        let network = u32::from(address);
        if network & !mask != 0 {
            return Err(bad(format!("{:?} has host bits set", self.cidr)));
        }
        if let Some(gateway) = &self.gateway {
            let gateway: Ipv4Addr = gateway.parse().map_err(|_| {
                RuntimeError::invalid("gateway", format!("{gateway:?} is not IPv4"))
            })?;
            let host = u32::from(gateway);
            let broadcast = network | !mask;
            if host & mask != network || host == network || host == broadcast {
                return Err(RuntimeError::invalid(
                    "gateway",
                    format!("{gateway} is not a host address of {}", self.cidr),
                ));
            }
        }
        Ok(())
    }
}

/// A project network we manage, with what is attached to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    /// The network's name.
    pub name: String,
    /// The engine's id for it.
    pub id: String,
    /// The owning project.
    pub project_id: String,
    /// Its subnets (CIDR).
    pub subnets: Vec<String>,
    /// Its gateways.
    pub gateways: Vec<String>,
    /// Names of the containers attached, sorted.
    pub containers: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(result: Result<(), RuntimeError>) -> &'static str {
        match result {
            Err(RuntimeError::InvalidSpec { field, .. }) => field,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_network_address_with_a_host_gateway_is_valid() {
        SubnetSpec::new("10.201.3.0/24").validate().unwrap();
        SubnetSpec::new("172.30.0.0/16").validate().unwrap();
        let with_gateway = SubnetSpec {
            cidr: "10.201.3.0/24".to_owned(),
            gateway: Some("10.201.3.1".to_owned()),
        };
        with_gateway.validate().unwrap();
    }

    #[test]
    fn malformed_subnets_are_invalid() {
        for bad in [
            "10.1.2.0",
            "10.1.2.0/",
            "10.1.2/24",
            "x/24",
            "10.1.2.0/7",
            "10.1.2.0/31",
            "10.1.2.5/24",
            "::1/64",
        ] {
            assert_eq!(field(SubnetSpec::new(bad).validate()), "subnet", "{bad}");
        }
    }

    #[test]
    fn a_gateway_must_be_a_host_of_the_subnet() {
        for bad in ["10.1.3.1", "10.1.2.0", "10.1.2.255", "gateway"] {
            let spec = SubnetSpec {
                cidr: "10.1.2.0/24".to_owned(),
                gateway: Some(bad.to_owned()),
            };
            assert_eq!(field(spec.validate()), "gateway", "{bad}");
        }
    }
}
