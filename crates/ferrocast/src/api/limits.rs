//! The HTTP API's per-app rate limits (GCRA): backend events per second, counted per target
//! channel, and read requests per second. Over a limit: 429 with `Retry-After`.

use std::num::NonZeroU32;

use super::error::ApiError;
use crate::apps::App;

/// Takes `events` cells from the app's backend-event limit.
pub(super) fn backend_events(app: &App, events: usize) -> Result<(), ApiError> {
    let settings = app.config();
    let Some(limiter) = &settings.backend_events else {
        return Ok(());
    };
    let n = NonZeroU32::new(u32::try_from(events).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
    match limiter.check_n(n) {
        Ok(Ok(())) => Ok(()),
        // Either not yet (GCRA) or more than a whole second's worth at once.
        Ok(Err(_)) | Err(_) => {
            app.metrics.rate_limited_backend_events.increment(1);
            Err(ApiError::RateLimited(settings.max_backend_events_per_sec))
        }
    }
}

/// Takes one cell from the app's read-request limit.
pub(super) fn read_request(app: &App) -> Result<(), ApiError> {
    let settings = app.config();
    let Some(limiter) = &settings.read_requests else {
        return Ok(());
    };
    limiter.check().map_err(|_| {
        app.metrics.rate_limited_read_requests.increment(1);
        ApiError::RateLimited(settings.max_read_requests_per_sec)
    })
}
