//! The HTTP client: signs each request, keeps the server's clock offset, retries what may
//! succeed when asked again, and reports every request and answer as an [`Event`].

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

use super::config_error::ConfigError;
use super::credentials::{Credentials, OvhSettings};
use super::endpoint::Endpoint;
use super::error::{ApiError, OvhError};
use super::events::{Event, EventKind};
use super::retry::{RetryPolicy, is_retryable_status};
use super::signature::sign;

/// Where the events of a call go. `&mut |_| {}` when nobody listens.
pub type Observer<'a> = &'a mut (dyn FnMut(Event) + Send);

/// How patient the client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// One request (connect, send, whole answer) must finish within this.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}

/// A client for one endpoint and one set of keys. Cheap to share by reference between tasks;
/// the server time offset is fetched once, on the first signed request.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    credentials: Credentials,
    options: ClientOptions,
    /// Server time minus local time, in seconds (`GET /auth/time`).
    time_delta: OnceCell<i64>,
}

/// One attempt's failure, and whether another attempt may help.
struct AttemptError {
    error: OvhError,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl Client {
    /// Credentials from the environment and ovh.conf (see [`Credentials::load`]), default
    /// timeouts and retries.
    pub fn from_config(settings: &OvhSettings) -> Result<Client, OvhError> {
        Client::new(Credentials::load(settings)?, ClientOptions::default())
    }

    pub fn new(credentials: Credentials, options: ClientOptions) -> Result<Client, OvhError> {
        let http = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(options.request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("tandem/", env!("CARGO_PKG_VERSION")))
            // Never follow a redirect with the signature headers to somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                OvhError::Config(ConfigError::HttpClient {
                    detail: e.to_string(),
                })
            })?;
        Ok(Client {
            http,
            credentials,
            options,
            time_delta: OnceCell::new(),
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.credentials.endpoint
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Server time minus local time in seconds, asked once (`GET /auth/time`, unsigned).
    pub async fn time_delta(&self, observer: Observer<'_>) -> Result<i64, OvhError> {
        self.time_delta
            .get_or_try_init(|| async {
                let bytes = self
                    .send(Method::GET, "/auth/time", None, false, observer)
                    .await?;
                let text = String::from_utf8_lossy(&bytes);
                let server: i64 = text.trim().parse().map_err(|_| OvhError::BadAnswer {
                    method: "GET".into(),
                    path: "/auth/time".into(),
                    detail: format!("expected a number of seconds, got {:?}", truncate(&text)),
                })?;
                Ok(server - unix_now())
            })
            .await
            .copied()
    }

    /// A signed request whose answer is JSON of type `T`. `path` is below the endpoint's base
    /// URL, already percent-encoded (`/ip/203.0.113.5%2F32`); `body` is sent as compact JSON.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        observer: Observer<'_>,
    ) -> Result<T, OvhError> {
        let body = body.map(|b| b.to_string());
        let bytes = self
            .send(method.clone(), path, body.as_deref(), true, observer)
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| OvhError::BadAnswer {
            method: method.to_string(),
            path: path.to_string(),
            detail: format!("{e} in {:?}", truncate(&String::from_utf8_lossy(&bytes))),
        })
    }

    /// Sends with retries; the body of the first successful answer.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
        signed: bool,
        observer: Observer<'_>,
    ) -> Result<Vec<u8>, OvhError> {
        let policy = self.options.retry;
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match self
                .attempt(&method, path, body, signed, attempt, observer)
                .await
            {
                Ok(bytes) => return Ok(bytes),
                Err(failure) => failure,
            };
            // A final answer (a 4xx) is OVH's word on this request, even after retries: the
            // caller must see it as such (a 409 after a retried POST means a move is under way,
            // perhaps our own first attempt whose answer was lost), not as retries running out.
            if !failure.retryable {
                return Err(failure.error);
            }
            let delay = policy.delay(attempt, failure.retry_after);
            if !policy.allows(attempt, started.elapsed(), delay) {
                return Err(if attempt > 1 {
                    OvhError::GaveUp {
                        attempts: attempt,
                        elapsed: started.elapsed(),
                        last: Box::new(failure.error),
                    }
                } else {
                    failure.error
                });
            }
            observer(Event::now(EventKind::Retrying {
                method: method.to_string(),
                path: path.to_string(),
                attempt,
                after: delay,
            }));
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        body: Option<&str>,
        signed: bool,
        attempt: u32,
        observer: Observer<'_>,
    ) -> Result<Vec<u8>, AttemptError> {
        let final_error = |error| AttemptError {
            error,
            retryable: false,
            retry_after: None,
        };
        let url = format!("{}{}", self.credentials.endpoint.base_url(), path);
        let url = reqwest::Url::parse(&url).map_err(|e| {
            final_error(OvhError::Config(ConfigError::BadUrl {
                endpoint: self.credentials.endpoint.to_string(),
                url: url.clone(),
                detail: e.to_string(),
            }))
        })?;
        let mut headers = HeaderMap::new();
        headers.insert("Accept", HeaderValue::from_static("application/json"));
        if body.is_some() {
            headers.insert("Content-Type", HeaderValue::from_static("application/json"));
        }
        if signed {
            let delta = Box::pin(self.time_delta(observer))
                .await
                .map_err(final_error)?;
            let timestamp = unix_now() + delta;
            let c = &self.credentials;
            // The signature covers the URL exactly as it goes on the wire.
            let signature = sign(
                c.application_secret.expose(),
                c.consumer_key.expose(),
                method.as_str(),
                url.as_str(),
                body.unwrap_or(""),
                timestamp,
            );
            for (name, value) in [
                ("X-Ovh-Application", c.application_key.expose()),
                ("X-Ovh-Consumer", c.consumer_key.expose()),
                ("X-Ovh-Timestamp", &timestamp.to_string()),
                ("X-Ovh-Signature", &signature),
            ] {
                let value = HeaderValue::from_str(value)
                    .map_err(|_| final_error(OvhError::Config(ConfigError::BadHeader { name })))?;
                headers.insert(name, value);
            }
        }

        observer(Event::now(EventKind::RequestSent {
            method: method.to_string(),
            path: path.to_string(),
            attempt,
        }));
        let sent = Instant::now();
        let mut request = self.http.request(method.clone(), url).headers(headers);
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let transport = |e: reqwest::Error, observer: Observer<'_>| {
            let detail = error_chain(&e);
            observer(Event::now(EventKind::NoAnswer {
                method: method.to_string(),
                path: path.to_string(),
                detail: detail.clone(),
            }));
            AttemptError {
                error: OvhError::Transport {
                    method: method.to_string(),
                    path: path.to_string(),
                    detail,
                    timed_out: e.is_timeout(),
                },
                // Timeouts, refused and reset connections: the next attempt may get through.
                retryable: true,
                retry_after: None,
            }
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Err(transport(e, observer)),
        };
        let status = response.status().as_u16();
        let query_id = header_text(response.headers(), "X-Ovh-Queryid");
        let retry_after = header_text(response.headers(), "Retry-After")
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes.to_vec(),
            Err(e) => return Err(transport(e, observer)),
        };
        observer(Event::now(EventKind::Answered {
            method: method.to_string(),
            path: path.to_string(),
            status,
            query_id: query_id.clone(),
            elapsed: sent.elapsed(),
        }));
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        Err(AttemptError {
            error: OvhError::Api(Box::new(ApiError::from_answer(
                method.as_str(),
                path,
                status,
                query_id,
                &bytes,
            ))),
            retryable: is_retryable_status(status),
            retry_after,
        })
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// reqwest's own message is "error sending request for url (...)"; the cause is in the sources.
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts = vec![if e.is_timeout() {
        "timed out".to_string()
    } else {
        e.to_string()
    }];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

fn truncate(text: &str) -> String {
    text.chars().take(200).collect()
}
