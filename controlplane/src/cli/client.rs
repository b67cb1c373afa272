//! The API client: where to call and with what credential (the
//! environment's `MINICLOUD_ENDPOINT` and `MINICLOUD_TOKEN` over the
//! profile's), a session renewed with its refresh token when its access
//! token expires (and saved back), and the API's error bodies turned into
//! messages and exit codes.

use super::Global;
use super::profile::{Profile, Profiles, Session};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

/// The endpoint when neither a profile nor the environment names one.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:8080";

/// Why a command failed, and its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command was given something wrong (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The API refused the call.
    #[error("{message} ({code}, HTTP {status}{})", trace(trace_id))]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error's code, such as `not_found`.
        code: String,
        /// What to fix.
        message: String,
        /// The request's trace id, for the server's logs.
        trace_id: String,
    },
    /// Anything else: the network, a file, the server (exit code 1).
    #[error("{0}")]
    Failed(String),
}

fn trace(id: &str) -> String {
    if id.is_empty() {
        String::new()
    } else {
        format!(", trace {id}")
    }
}

impl CliError {
    /// The process's exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Failed(_) => 1,
            Self::Usage(_) => 2,
            Self::Api { status, .. } => match *status {
                401 | 403 => 3,
                404 => 4,
                400..=499 => 5,
                _ => 1,
            },
        }
    }

    pub fn network(endpoint: &str, e: &reqwest::Error) -> Self {
        let mut message = format!("cannot reach {endpoint}: {e}");
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        Self::Failed(message)
    }
}

/// The credential calls are made with.
#[derive(Debug, Clone)]
pub enum Credential {
    /// None: only `login` works.
    None,
    /// An API key.
    Key(String),
    /// A user's session, renewed when it expires.
    Session(Session),
}

/// A client of one platform.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    /// The platform's URL, without a trailing `/`.
    pub endpoint: String,
    /// The project commands act on.
    pub project: String,
    credential: Credential,
    /// The profile a renewed session is saved to.
    profile: Option<String>,
}

impl Client {
    /// A client for `endpoint` with `credential`.
    pub fn new(endpoint: &str, project: String, credential: Credential) -> Result<Self, CliError> {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(CliError::Usage(format!(
                "the endpoint {endpoint:?} is not an http:// or https:// URL"
            )));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("minicloud-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Failed(format!("cannot make an HTTP client: {e}")))?;
        Ok(Self {
            http,
            endpoint,
            project,
            credential,
            profile: None,
        })
    }

    /// The client of the profile `global` picks, with the environment's
    /// endpoint and token over the profile's.
    pub fn from_profile(global: &Global) -> Result<Self, CliError> {
        let profiles = Profiles::load()?;
        let name = profiles.pick(global.profile.as_deref());
        let saved = profiles.profiles.get(&name).cloned();
        if saved.is_none() && global.profile.is_some() {
            return Err(CliError::Usage(format!(
                "there is no profile {name:?}: sign in with `minicloud login --profile {name}`"
            )));
        }
        let profile = saved.clone().unwrap_or_default();
        let endpoint = global
            .endpoint
            .clone()
            .or_else(|| saved.as_ref().map(|p| p.endpoint.clone()))
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        let project = global
            .project
            .clone()
            .or(profile.project.clone())
            .unwrap_or_else(|| "default".to_owned());
        let env_token = std::env::var("MINICLOUD_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty());
        // A profile's credential goes only to the profile's own endpoint:
        // another endpoint (`--endpoint`, MINICLOUD_ENDPOINT) needs its
        // own token (MINICLOUD_TOKEN).
        let same_endpoint = saved
            .as_ref()
            .is_some_and(|p| p.endpoint.trim_end_matches('/') == endpoint.trim_end_matches('/'));
        let credential = match (env_token, &profile) {
            (Some(t), _) => Credential::Key(t.trim().to_owned()),
            (None, _) if saved.is_some() && !same_endpoint => {
                return Err(CliError::Usage(format!(
                    "profile {name:?} signs in to {}, not {endpoint}: set MINICLOUD_TOKEN for {endpoint}, \
                     or sign in to it with `minicloud login --endpoint {endpoint} --profile <another>`",
                    profile.endpoint
                )));
            }
            (None, Profile { token: Some(t), .. }) => Credential::Key(t.clone()),
            (None, Profile { session: Some(s), .. }) => Credential::Session(s.clone()),
            _ => Credential::None,
        };
        let mut client = Self::new(&endpoint, project, credential)?;
        if saved.is_some() {
            client.profile = Some(name);
        }
        Ok(client)
    }

    /// The session calls are made with now (renewed since it was given,
    /// perhaps).
    pub fn session(&self) -> Option<&Session> {
        match &self.credential {
            Credential::Session(s) => Some(s),
            _ => None,
        }
    }

    /// The URL of an API path (`/projects/...`).
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.endpoint)
    }

    /// The URL of a project's path (`/functions/...`).
    pub fn in_project(&self, path: &str) -> String {
        self.api(&format!("/projects/{}{path}", segment(&self.project)))
    }

    /// A request with the credential; a session about to expire is
    /// renewed first.
    pub async fn request(&mut self, method: Method, url: &str) -> Result<RequestBuilder, CliError> {
        let token = match &self.credential {
            Credential::None => {
                return Err(CliError::Api {
                    status: 401,
                    code: "not_signed_in".into(),
                    message: "no credentials: run `minicloud login`, or set MINICLOUD_TOKEN".into(),
                    trace_id: String::new(),
                });
            }
            Credential::Key(key) => key.clone(),
            Credential::Session(s) if s.expires_ms > crate::util::now_ms() + 30_000 => s.access_token.clone(),
            Credential::Session(_) => self.refresh().await?,
        };
        Ok(self.http.request(method, url).bearer_auth(token))
    }

    /// A request without credentials (login).
    pub fn anonymous(&self, method: Method, url: &str) -> RequestBuilder {
        self.http.request(method, url)
    }

    /// Sends `request`: the response when its status is a success, else
    /// the API's error.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, CliError> {
        let resp = request
            .send()
            .await
            .map_err(|e| CliError::network(&self.endpoint, &e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(api_error(resp).await)
    }

    /// Calls `method path` (an API path) with an optional JSON body: the
    /// JSON answered (`null` for none).
    pub async fn call(&mut self, method: Method, url: &str, body: Option<&Value>) -> Result<Value, CliError> {
        let mut request = self.request(method, url).await?;
        if let Some(b) = body {
            request = request.json(b);
        }
        let resp = self.send(request).await?;
        json_of(resp).await
    }

    /// Every item of a paged list (`items` and `next_cursor`), following
    /// the cursors; `url` may carry a query (filters) of its own.
    pub async fn all(&mut self, url: &str) -> Result<Vec<Value>, CliError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let join = if url.contains('?') { '&' } else { '?' };
        loop {
            let page_url = match &cursor {
                Some(c) => format!("{url}{join}limit=100&cursor={}", segment(c)),
                None => format!("{url}{join}limit=100"),
            };
            let page = self.call(Method::GET, &page_url, None).await?;
            if let Some(list) = page["items"].as_array() {
                items.extend(list.iter().cloned());
            }
            cursor = match &page["next_cursor"] {
                Value::String(c) => Some(c.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            if cursor.is_none() {
                return Ok(items);
            }
        }
    }

    /// Renews the session with its refresh token and saves the new pair
    /// to the profile: the new access token.
    async fn refresh(&mut self) -> Result<String, CliError> {
        let Credential::Session(old) = &self.credential else {
            return Err(CliError::Failed("no session to renew".into()));
        };
        let body = serde_json::json!({"refresh_token": old.refresh_token});
        let request = self
            .anonymous(Method::POST, &self.api("/auth/refresh"))
            .json(&body);
        let answer = match self.send(request).await {
            Ok(resp) => json_of(resp).await?,
            Err(CliError::Api { status: 401, .. }) => {
                return Err(CliError::Api {
                    status: 401,
                    code: "session_expired".into(),
                    message: "the session ended: sign in again with `minicloud login`".into(),
                    trace_id: String::new(),
                });
            }
            Err(e) => return Err(e),
        };
        let session = session_of(&answer)?;
        let token = session.access_token.clone();
        self.credential = Credential::Session(session.clone());
        if let Some(name) = &self.profile {
            let mut profiles = Profiles::load()?;
            if let Some(p) = profiles.profiles.get_mut(name) {
                p.session = Some(session);
                profiles.save()?;
            }
        }
        Ok(token)
    }
}

/// A session from the answer of `/auth/login` or `/auth/refresh`.
pub fn session_of(answer: &Value) -> Result<Session, CliError> {
    // The answer holds tokens: an error names what is missing, never
    // the answer itself.
    let text = |key: &str| {
        answer[key].as_str().map(str::to_owned).ok_or_else(|| {
            CliError::Failed(format!("the server's answer holds no session ({key} is missing)"))
        })
    };
    Ok(Session {
        access_token: text("access_token")?,
        refresh_token: text("refresh_token")?,
        expires_ms: crate::util::now_ms() + answer["expires_in"].as_i64().unwrap_or(0) * 1000,
    })
}

/// The JSON of a response (`null` when it has none).
pub async fn json_of(resp: Response) -> Result<Value, CliError> {
    if resp.status() == StatusCode::NO_CONTENT {
        return Ok(Value::Null);
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| CliError::Failed(format!("reading the answer failed: {e}")))?;
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        CliError::Failed(format!(
            "the answer is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        ))
    })
}

/// The API's error from a failed response.
pub async fn api_error(resp: Response) -> CliError {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let error = &body["error"];
    let field = |k: &str| error[k].as_str().unwrap_or_default().to_owned();
    let message = match field("message") {
        m if m.is_empty() && text.trim().is_empty() => {
            status.canonical_reason().unwrap_or("failed").to_owned()
        }
        m if m.is_empty() => text.trim().chars().take(500).collect(),
        m => m,
    };
    CliError::Api {
        status: status.as_u16(),
        code: match field("code") {
            c if c.is_empty() => "http_error".to_owned(),
            c => c,
        },
        message,
        trace_id: field("trace_id"),
    }
}

/// `s` escaped as one segment of a URL path or a query value. `.` and
/// `..` are escaped too: a path given them would otherwise name another
/// path of the API once the URL is normalized.
pub fn segment(s: &str) -> String {
    match s {
        "." => return "%2E".to_owned(),
        ".." => return "%2E%2E".to_owned(),
        _ => {}
    }
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    /// Everything but RFC 3986's unreserved characters.
    const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(s, ESCAPED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name is one path segment whatever it holds: `/`, `?`, `#` and
    /// the dot segments cannot reach another path of the API.
    #[test]
    fn a_segment_stays_one_segment() {
        assert_eq!(segment("a b/c?d#e"), "a%20b%2Fc%3Fd%23e");
        assert_eq!(segment("notes.txt"), "notes.txt");
        assert_eq!(segment("."), "%2E");
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment("..."), "...");
    }
}
