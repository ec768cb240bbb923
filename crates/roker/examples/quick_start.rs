//! The specification's Quick Start, as written.
use roker::{Broker, BrokerConfig, Message, Topic};
use std::sync::Arc;

fn main() {
    // Create a broker with default configuration
    let config = BrokerConfig::default();
    let broker = Arc::new(Broker::new(config).expect("Failed to create broker"));

    // Register clients
    let _publisher_id = broker
        .register_client("publisher")
        .expect("Failed to register publisher");
    let subscriber_id = broker
        .register_client("subscriber")
        .expect("Failed to register subscriber");

    // Subscribe to a topic
    broker
        .subscribe(&subscriber_id, "/sensors/#")
        .expect("Failed to subscribe");

    // Publish a message
    let topic = Topic::new("/sensors/temperature").expect("Invalid topic");
    let message = Message::new(topic, b"25.5".to_vec());
    broker.publish(message).expect("Failed to publish");

    // Receive messages
    if let Ok(message) = broker.receive(&subscriber_id) {
        println!("Received: {:?}", message);
    }
}
