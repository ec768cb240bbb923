//! The one error type of roker, with a stable machine-readable code per variant.

/// Everything that can go wrong in roker.
///
/// Each variant has a stable string code ([`Error::code`]) that never changes between
/// releases; the Node.js binding exposes it as `err.code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A publish could not find room (log space or a subscriber's inbox) within the
    /// publish timeout, under the `Block` slow-subscriber policy.
    #[error("buffer full: a subscriber's inbox or the shared log had no room within the publish timeout")]
    BufferFull,
    /// Every client slot of the broker is taken by a live client.
    #[error("maximum number of clients ({0}) reached")]
    MaxClientsReached(u32),
    /// The client already holds `maxSubscriptionsPerClient` subscriptions.
    #[error("maximum number of subscriptions per client ({0}) reached")]
    MaxSubscriptionsReached(u32),
    /// The payload is larger than the broker's maximum message size.
    #[error("message of {size} bytes exceeds the maximum message size of {max} bytes")]
    MessageTooLarge {
        /// Size of the rejected payload in bytes.
        size: u64,
        /// The broker's maximum message size in bytes.
        max: u64,
    },
    /// A publish topic is not valid (empty, holds a wildcard or NUL, not UTF-8, too long).
    #[error("invalid topic: {0}")]
    InvalidTopic(String),
    /// A subscription filter is not valid (misplaced wildcard, NUL, not UTF-8, too long).
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    /// A named thing (a broker region, a subscription) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A live broker with this name already exists.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The region exists but is not a roker region this build understands (magic, layout
    /// version, sizes or header disagree), or it is corrupt.
    #[error("incompatible or corrupt broker region: {0}")]
    IncompatibleRegion(String),
    /// The client id is unknown: never registered, unregistered, or reclaimed after its
    /// process died.
    #[error("client not found: {0}")]
    ClientNotFound(String),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A broker or client name is not acceptable.
    #[error("invalid name: {0}")]
    InvalidName(String),
    /// A wait on another process (a lock holder, a creator) ran out of time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The broker handle was closed, or the region was destroyed.
    #[error("broker is closed")]
    Closed,
    /// Not enough shared memory (`/dev/shm`) to create the region.
    #[error("not enough shared memory to create a region of {needed} bytes: {reason}")]
    OutOfSharedMemory {
        /// Bytes the region needed.
        needed: u64,
        /// What the operating system said.
        reason: String,
    },
    /// The operating system refused access to the region.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// Any other operating-system failure.
    #[error("operating system error: {0}")]
    Os(String),
}

impl Error {
    /// The stable machine-readable code of this error (`"BufferFull"`, `"InvalidTopic"`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Error::BufferFull => "BufferFull",
            Error::MaxClientsReached(_) => "MaxClientsReached",
            Error::MaxSubscriptionsReached(_) => "MaxSubscriptionsReached",
            Error::MessageTooLarge { .. } => "MessageTooLarge",
            Error::InvalidTopic(_) => "InvalidTopic",
            Error::InvalidFilter(_) => "InvalidFilter",
            Error::NotFound(_) => "NotFound",
            Error::AlreadyExists(_) => "AlreadyExists",
            Error::IncompatibleRegion(_) => "IncompatibleRegion",
            Error::ClientNotFound(_) => "ClientNotFound",
            Error::InvalidConfig(_) => "InvalidConfig",
            Error::InvalidName(_) => "InvalidName",
            Error::Timeout(_) => "Timeout",
            Error::Closed => "Closed",
            Error::OutOfSharedMemory { .. } => "OutOfSharedMemory",
            Error::PermissionDenied(_) => "PermissionDenied",
            Error::Os(_) => "OsError",
        }
    }

    /// Every code [`Error::code`] can return, for documentation and bindings.
    pub const CODES: &'static [&'static str] = &[
        "BufferFull",
        "MaxClientsReached",
        "MaxSubscriptionsReached",
        "MessageTooLarge",
        "InvalidTopic",
        "InvalidFilter",
        "NotFound",
        "AlreadyExists",
        "IncompatibleRegion",
        "ClientNotFound",
        "InvalidConfig",
        "InvalidName",
        "Timeout",
        "Closed",
        "OutOfSharedMemory",
        "PermissionDenied",
        "OsError",
    ];
}

/// `Result` with roker's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_listed() {
        let samples = [
            Error::BufferFull,
            Error::MaxClientsReached(1),
            Error::MaxSubscriptionsReached(1),
            Error::MessageTooLarge { size: 2, max: 1 },
            Error::InvalidTopic("x".into()),
            Error::InvalidFilter("x".into()),
            Error::NotFound("x".into()),
            Error::AlreadyExists("x".into()),
            Error::IncompatibleRegion("x".into()),
            Error::ClientNotFound("x".into()),
            Error::InvalidConfig("x".into()),
            Error::InvalidName("x".into()),
            Error::Timeout("x".into()),
            Error::Closed,
            Error::OutOfSharedMemory {
                needed: 1,
                reason: "x".into(),
            },
            Error::PermissionDenied("x".into()),
            Error::Os("x".into()),
        ];
        let codes: Vec<_> = samples.iter().map(Error::code).collect();
        assert_eq!(codes, Error::CODES);
        assert_eq!(
            Error::MessageTooLarge { size: 10, max: 5 }.to_string(),
            "message of 10 bytes exceeds the maximum message size of 5 bytes"
        );
    }
}
