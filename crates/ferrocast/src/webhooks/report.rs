//! What the socket path reports, in Pusher's terms: a subscription or a departure becomes
//! `channel_occupied`/`channel_vacated`, `member_added`/`member_removed`, `cache_miss` and
//! `subscription_count`; a relayed client event becomes `client_event`. One call per socket-path
//! step, so the connection code stays one line per report.

use ferrocast_protocol::webhook::{EventType, WebhookEvent};
use ferrocast_protocol::{ChannelKind, ChannelName, SocketId};
use serde_json::value::RawValue;

use super::Webhooks;
use crate::apps::App;
use crate::channels::{Subscribed, Unsubscribed};

impl Webhooks {
    /// A socket subscribed to `channel`.
    pub fn subscribed(&self, app: &App, channel: &ChannelName, sub: &Subscribed) {
        if sub.again || app.config().webhooks.is_empty() {
            return;
        }
        let name = channel.as_str();
        if sub.occupied {
            self.emit(app, EventType::ChannelOccupied, name, || {
                WebhookEvent::ChannelOccupied {
                    channel: name.into(),
                }
            });
        }
        if let Some(m) = &sub.local_join {
            self.emit(app, EventType::MemberAdded, name, || {
                WebhookEvent::MemberAdded {
                    channel: name.into(),
                    user_id: m.user_id.to_string(),
                }
            });
        }
        if sub.cache_miss {
            self.emit(app, EventType::CacheMiss, name, || {
                WebhookEvent::CacheMiss {
                    channel: name.into(),
                }
            });
        }
        self.count_changed(app, channel);
    }

    /// A socket left `channel` (unsubscribed or disconnected).
    pub fn left(&self, app: &App, channel: &ChannelName, left: &Unsubscribed) {
        let Unsubscribed::Left {
            local_leave,
            vacated,
        } = left
        else {
            return;
        };
        if app.config().webhooks.is_empty() {
            return;
        }
        let name = channel.as_str();
        if let Some(user) = local_leave {
            self.emit(app, EventType::MemberRemoved, name, || {
                WebhookEvent::MemberRemoved {
                    channel: name.into(),
                    user_id: user.to_string(),
                }
            });
        }
        if *vacated {
            self.emit(app, EventType::ChannelVacated, name, || {
                WebhookEvent::ChannelVacated {
                    channel: name.into(),
                }
            });
        }
        self.count_changed(app, channel);
    }

    /// `subscription_count` with this node's count (the pipeline asks the cluster when there is
    /// one). Not sent for presence channels, as with Pusher.
    fn count_changed(&self, app: &App, channel: &ChannelName) {
        if channel.kind() == ChannelKind::Presence {
            return;
        }
        let name = channel.as_str();
        self.emit(app, EventType::SubscriptionCount, name, || {
            WebhookEvent::SubscriptionCount {
                channel: name.into(),
                subscription_count: app.channels.counts(name).subscriptions,
            }
        });
    }

    /// A client event was relayed. `data` is sent as a string, as Pusher does: a JSON string
    /// as its text, anything else as its JSON.
    pub fn client_event(
        &self,
        app: &App,
        channel: &ChannelName,
        event: &str,
        data: &RawValue,
        socket_id: SocketId,
        user_id: Option<&str>,
    ) {
        let name = channel.as_str();
        self.emit(app, EventType::ClientEvent, name, || {
            let data = serde_json::from_str::<String>(data.get())
                .unwrap_or_else(|_| data.get().to_owned());
            WebhookEvent::ClientEvent {
                channel: name.into(),
                event: event.into(),
                data,
                socket_id: socket_id.to_string(),
                user_id: user_id.map(str::to_owned),
            }
        });
    }
}
