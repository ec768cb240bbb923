//! # roker
//!
//! A shared-memory publish/subscribe message broker. Processes on one host attach to a
//! named broker region, subscribe with MQTT-style wildcard filters (`*` matches one level,
//! `#` any number of levels) and exchange messages through shared memory, without a broker
//! process in between.
//!
//! ## Quick start
//!
//! ```
//! use roker::{Broker, BrokerConfig, Message, Topic};
//! use std::sync::Arc;
//!
//! // Create a broker with default configuration
//! let config = BrokerConfig::default();
//! let broker = Arc::new(Broker::new(config).expect("Failed to create broker"));
//!
//! // Register clients
//! let publisher_id = broker.register_client("publisher").expect("Failed to register publisher");
//! let subscriber_id = broker.register_client("subscriber").expect("Failed to register subscriber");
//!
//! // Subscribe to a topic
//! broker.subscribe(&subscriber_id, "/sensors/#").expect("Failed to subscribe");
//!
//! // Publish a message
//! let topic = Topic::new("/sensors/temperature").expect("Invalid topic");
//! let message = Message::new(topic, b"25.5".to_vec());
//! broker.publish(message).expect("Failed to publish");
//!
//! // Receive messages
//! if let Ok(message) = broker.receive(&subscriber_id) {
//!     println!("Received: {:?}", message);
//! }
//! # let _ = publisher_id;
//! ```
//!
//! Another process attaches with [`Broker::connect`]`("roker")` and uses the same API.
//!
//! ## Semantics
//!
//! * Topics and filters follow MQTT 3.1.1 §4.7 with `*` for `+` ([`topic`]).
//! * Per publisher, messages reach each matching subscriber in publish order, exactly once
//!   while it keeps up. When it does not, the [`SlowSubscriberPolicy`] decides: `Block`
//!   (publisher waits up to a timeout, then [`Error::BufferFull`]) or `DropOldest` (the
//!   subscriber later learns how many it missed, [`Message::missed`]).
//! * A process may die at any instruction: nobody deadlocks, and its client slots,
//!   subscriptions and log space are reclaimed (see the `broker` module notes).
//! * Every error has a stable code ([`Error::code`]).
//!
//! ## Receiving
//!
//! [`Broker::receive`] (non-blocking, copies), [`Broker::receive_timeout`] (spins, then
//! sleeps on a shared futex), [`Broker::receive_many`] (batch), [`Broker::receive_with`] and
//! [`Broker::receive_batch_with`] (zero-copy callbacks), [`Broker::receive_lent`] (zero-copy
//! value released on drop) and, with the `tokio` feature, `Broker::receive_async`.
//!
//! ## Platforms
//!
//! Linux is the primary platform (shared futexes, `/proc`-based liveness with process start
//! times). Other Unix systems compile and fall back to bounded polling and `kill(pid, 0)`.

mod broker;
pub mod error;
#[doc(hidden)]
pub mod fault;
mod filterset;
mod inbox;
mod layout;
mod lock;
mod message;
mod region;
mod sys;
pub mod topic;

pub use broker::{Broker, ClientId, ClientInfo, ClientStats};
pub use error::{Error, Result};
pub use filterset::FilterSet;
pub use layout::{BrokerConfig, BrokerOptions, SlowSubscriberPolicy, MAX_CLIENT_NAME_LEN};
pub use message::{LentMessage, Message, MessageRef};
pub use region::{validate_name, MAX_NAME_LEN};
pub use topic::{Filter, Topic};
