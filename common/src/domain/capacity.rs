//! What a runtime host can give one deployment: read by a worker from its
//! runtime when it connects, recorded in PostgreSQL
//! ([`crate::store::capacity`]), checked by the worker before it creates
//! anything and by the API before it accepts a request
//! ([`crate::domain::deployment::check_capacity`]).

/// The most one deployment can get from a host: its cores and its memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostCapacity {
    /// Cores.
    pub cpus: f64,
    /// Memory, bytes.
    pub memory_bytes: u64,
}
