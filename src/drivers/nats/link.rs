//! The link to the servers, on the driver's runtime: connecting, the
//! stream, and publishing each line until its ack comes.

use std::future::IntoFuture;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::context::{PublishAckFuture, PublishError, PublishErrorKind};
use tokio::sync::{mpsc, watch};

use super::config::Config;
use super::{Job, Shared, NAME};
use crate::error::{Error, Result};

/// The client's options; `lazy` ones keep trying a server that does not
/// answer yet, in the background.
pub(super) async fn options(
    config: &Config,
    shared: &Arc<Shared>,
    lazy: bool,
) -> Result<async_nats::ConnectOptions> {
    let mut options = async_nats::ConnectOptions::new()
        .connection_timeout(config.send_timeout)
        .max_reconnects(None);
    if lazy {
        options = options.retry_on_initial_connect();
    }
    if let Some(token) = &config.token {
        options = options.token(token.clone());
    }
    if let Some((user, password)) = &config.user {
        options = options.user_and_password(user.clone(), password.clone());
    }
    if let Some(creds) = &config.creds {
        options = options.credentials_file(creds).await.map_err(|e| {
            Error::invalid_option(
                NAME,
                "nats-creds",
                &creds.display().to_string(),
                e.to_string(),
            )
        })?;
    }
    if let Some(ca) = &config.tls_ca {
        if let Err(e) = std::fs::metadata(ca) {
            return Err(Error::invalid_option(
                NAME,
                "nats-tls-ca",
                &ca.display().to_string(),
                e.to_string(),
            ));
        }
        options = options.add_root_certificates(ca.clone());
    }
    let shared = Arc::clone(shared);
    Ok(options.event_callback(move |event| {
        if let async_nats::Event::Connected = event {
            shared.down.store(false, Ordering::Release);
            shared.stream_ready.store(false, Ordering::Release);
        }
        async {}
    }))
}

/// Connects and makes sure the stream exists. A server that does not
/// answer is no error: the client keeps trying in the background. One
/// that refuses the credentials or the TLS handshake is.
pub(super) async fn connect(config: &Config, shared: &Arc<Shared>) -> Result<jetstream::Context> {
    use async_nats::ConnectErrorKind as Kind;
    let urls = config.urls.as_slice();
    let client = match options(config, shared, false).await?.connect(urls).await {
        Ok(client) => {
            let context = context(client);
            ensure_stream(&context, config).await?;
            shared.stream_ready.store(true, Ordering::Release);
            return Ok(context);
        }
        Err(e)
            if matches!(
                e.kind(),
                Kind::AuthorizationViolation | Kind::Authentication
            ) =>
        {
            return Err(Error::driver(
                NAME,
                format!("the server refused the credentials: {e}"),
            ));
        }
        // rustls reports a certificate it cannot trust as an I/O error.
        Err(e) if e.kind() == Kind::Tls || e.to_string().contains("certificate") => {
            return Err(Error::driver(
                NAME,
                format!("TLS with the server failed: {e}"),
            ));
        }
        Err(_) => options(config, shared, true).await?.connect(urls).await,
    };
    let client = client
        .map_err(|e| Error::driver(NAME, format!("cannot connect to {:?}: {e}", config.urls)))?;
    Ok(context(client))
}

/// The JetStream context, with acks given up after a second: an ack lost
/// with a server or a stream leader is sent again soon, well within a
/// send timeout, and the stream's duplicate window removes a second copy.
pub(super) fn context(client: async_nats::Client) -> jetstream::Context {
    let mut context = jetstream::new(client);
    context.set_timeout(ACK_TIMEOUT);
    context
}

/// How long a publish waits for its ack before it is sent again.
pub(super) const ACK_TIMEOUT: Duration = Duration::from_secs(1);

/// Gets the stream, or creates it with `nats-create-stream`.
pub(super) async fn ensure_stream(context: &jetstream::Context, config: &Config) -> Result<()> {
    if context.get_stream(&config.stream).await.is_ok() {
        return Ok(());
    }
    if !config.create_stream {
        return Err(Error::driver(
            NAME,
            format!(
                "stream {:?} does not exist, and nats-create-stream is false",
                config.stream
            ),
        ));
    }
    let stream = jetstream::stream::Config {
        name: config.stream.clone(),
        subjects: vec![format!("{}.>", config.prefix)],
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    };
    context
        .get_or_create_stream(stream)
        .await
        .map(drop)
        .map_err(|e| {
            Error::driver(
                NAME,
                format!("cannot create stream {:?}: {e}", config.stream),
            )
        })
}

/// What the publishing side of the runtime shares.
pub(super) struct Link {
    pub(super) context: jetstream::Context,
    pub(super) config: Config,
    pub(super) shared: Arc<Shared>,
    /// `true` once `close`'s linger is over: everything left is dropped.
    pub(super) given_up: watch::Receiver<bool>,
    /// One stream check at a time.
    pub(super) ensuring: tokio::sync::Mutex<()>,
}

/// `true` on the receiver once the linger that `close` starts is over.
pub(super) fn linger(
    mut closing: watch::Receiver<Option<std::time::Instant>>,
) -> watch::Receiver<bool> {
    let (over_tx, over_rx) = watch::channel(false);
    tokio::spawn(async move {
        let Ok(deadline) = closing.wait_for(Option::is_some).await.map(|d| *d) else {
            return;
        };
        if let Some(deadline) = deadline {
            tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
        }
        let _ = over_tx.send(true);
    });
    over_rx
}

impl Link {
    /// Waits until the linger is over (forever if `close` never comes).
    async fn over(&self) {
        let mut given_up = self.given_up.clone();
        let _ = given_up.wait_for(|over| *over).await;
    }

    fn is_over(&self) -> bool {
        *self.given_up.borrow()
    }

    fn drop_line(&self) {
        self.shared.counts.dropped(1);
    }

    /// Makes sure of the stream once per connection, with
    /// `nats-create-stream`: a server that came up after the driver, or
    /// one that lost the stream, gets it before the next publish.
    async fn make_sure_of_stream(&self) {
        let ready = || self.shared.stream_ready.load(Ordering::Acquire);
        let connected =
            self.context.client().connection_state() == async_nats::connection::State::Connected;
        if !self.config.create_stream || ready() || !connected {
            return;
        }
        let _one = self.ensuring.lock().await;
        if !ready() && ensure_stream(&self.context, &self.config).await.is_ok() {
            self.shared.stream_ready.store(true, Ordering::Release);
        }
    }

    /// Sends `job`, making sure of the stream first.
    async fn send(&self, job: &Job) -> std::result::Result<PublishAckFuture, PublishError> {
        self.make_sure_of_stream().await;
        self.context
            .send_publish(job.subject.clone(), job.publish.clone())
            .await
    }

    /// Awaits `job`'s ack, sending it again (same message id) until it is
    /// acked, the stream refuses it, or the linger is over.
    async fn settle(&self, job: Job, first: std::result::Result<PublishAckFuture, PublishError>) {
        let shared = &self.shared;
        let mut attempt = first;
        loop {
            let outcome = match attempt {
                Ok(ack) => ack.into_future().await.map(drop),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => {
                    shared.down.store(false, Ordering::Release);
                    shared.counts.sent(1, job.line_bytes);
                    return;
                }
                Err(e) if e.kind() == PublishErrorKind::StreamNotFound => {
                    shared.stream_ready.store(false, Ordering::Release);
                }
                Err(e) if !refused(&e, &self.context) => {}
                Err(e) => {
                    self.drop_line();
                    *shared.refused.lock() = Some(format!("the stream refused a line: {e}"));
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            attempt = self.send(&job).await;
        }
    }
}

/// Publishes every job in order; each ack is awaited on a task of its
/// own. Once `close`'s linger is over, every wait ends: what is queued,
/// in a send, or unacked is dropped and counted.
pub(super) async fn publish_all(link: Arc<Link>, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let mut inflight = tokio::task::JoinSet::new();
    while let Some(job) = jobs.recv().await {
        if link.is_over() {
            link.drop_line();
            continue;
        }
        // Sent now, in order; the ack is awaited by the task.
        let first = tokio::select! {
            first = link.send(&job) => first,
            () = link.over() => {
                link.drop_line();
                continue;
            }
        };
        let task = Arc::clone(&link);
        // The whole job goes to the task, its permit with it: the permit
        // is what bounds the publishes in flight, until the task ends.
        inflight.spawn(async move {
            tokio::select! {
                () = task.settle(job, first) => {}
                () = task.over() => task.drop_line(),
            }
        });
        // Reap finished tasks, so that the set stays small.
        while inflight.try_join_next().is_some() {}
    }
    // Closed: wait for the acks until the linger is over.
    while inflight.join_next().await.is_some() {}
}

/// Whether the stream itself refused the line (its ack says so, as a
/// full stream under `discard: new` does), rather than the line not
/// getting through: only then is trying again useless.
pub(super) fn refused(e: &jetstream::context::PublishError, context: &jetstream::Context) -> bool {
    use std::error::Error as _;
    match e.kind() {
        PublishErrorKind::Other
        | PublishErrorKind::WrongLastMessageId
        | PublishErrorKind::WrongLastSequence => e
            .source()
            .is_some_and(|s| s.downcast_ref::<jetstream::Error>().is_some()),
        // Before a server is known, every payload is too large.
        PublishErrorKind::MaxPayloadExceeded => {
            context.client().connection_state() == async_nats::connection::State::Connected
        }
        _ => false,
    }
}
