//! Event-name rules shared by the WebSocket and HTTP paths.

/// Why an event name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventNameError {
    #[error("event name is empty")]
    Empty,
    #[error("event name is longer than {max} characters")]
    TooLong { max: usize },
}

/// Checks an event name published through the HTTP API or by a client.
pub fn validate_event_name(name: &str, max_len: usize) -> Result<(), EventNameError> {
    if name.is_empty() {
        return Err(EventNameError::Empty);
    }
    if name.chars().count() > max_len {
        return Err(EventNameError::TooLong { max: max_len });
    }
    Ok(())
}

/// The prefix that marks an event a client may send to other subscribers.
pub const CLIENT_EVENT_PREFIX: &str = "client-";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names() {
        assert!(validate_event_name("my-event", 200).is_ok());
        assert_eq!(validate_event_name("", 200), Err(EventNameError::Empty));
        assert_eq!(
            validate_event_name(&"e".repeat(201), 200),
            Err(EventNameError::TooLong { max: 200 })
        );
    }
}
