//! Subnets for tests that make Docker networks. Networks share the host, so
//! each kind of test takes second octets of its own inside `10.0.0.0/8`:
//!
//! - 96–99: the subnet store tests (`common/tests/store_networks.rs`), which
//!   make no Docker network at all;
//! - 100–127: a [`crate::stack::Stack`]'s workers that keep the default pool
//!   ([`stack_pool`]), a random /20 each;
//! - 128–199: pipeline tests ([`random_pool`]), one octet per test;
//! - 200–249: the runtime tests in `worker/tests` ([`random_subnet`]).
//!
//! The random part keeps two runs of one test at once (two work trees)
//! apart most of the time.

use uuid::Uuid;

/// A random `/prefix_len` range inside `10.{second_octet}.0.0/16`, for a
/// worker's subnet pool. Each test takes its own `second_octet` in 128–199.
pub fn random_pool(second_octet: u8, prefix_len: u8) -> String {
    assert!((128..200).contains(&second_octet), "an octet in 128-199");
    assert!((16..=24).contains(&prefix_len), "a pool of /16 to /24");
    let block = 1u16 << (24 - prefix_len);
    let third = (u16::from(Uuid::new_v4().into_bytes()[0]) / block * block) % 256;
    format!("10.{second_octet}.{third}.0/{prefix_len}")
}

/// A random /20 in `10.100.0.0`–`10.127.240.0`: the pool of one stack's
/// workers (448 of them, so stacks running at once rarely share one).
pub fn stack_pool() -> String {
    let bytes = Uuid::new_v4().into_bytes();
    let (second, third) = (100 + bytes[0] % 28, (bytes[1] % 16) * 16);
    format!("10.{second}.{third}.0/20")
}

/// A random /24 in `10.200.0.0`–`10.249.255.0` and its gateway (`.1`), for a
/// runtime test that gives a network an explicit subnet.
pub fn random_subnet() -> (String, String) {
    let bytes = Uuid::new_v4().into_bytes();
    let (second, third) = (200 + bytes[0] % 50, bytes[1]);
    (
        format!("10.{second}.{third}.0/24"),
        format!("10.{second}.{third}.1"),
    )
}
