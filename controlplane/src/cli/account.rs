//! `login`, `logout` and `whoami`.

use super::client::{CliError, Client, Credential, DEFAULT_ENDPOINT, json_of, session_of};
use super::profile::{Profile, Profiles};
use super::{Global, output};
use clap::Args;
use reqwest::Method;
use serde_json::json;
use std::io::{BufRead, IsTerminal};

/// `minicloud login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Read an API key from standard input (`minicloud login --token-stdin <
    /// .minicloud/admin-token`).
    #[arg(long, conflicts_with = "user")]
    token_stdin: bool,
    /// Sign in as this user, with a password.
    #[arg(long)]
    user: Option<String>,
    /// The user's org.
    #[arg(long, default_value = "default", requires = "user")]
    org: String,
}

/// Signs in, checks the credential with `/auth/me`, and saves it in the
/// profile (which becomes the current one).
pub async fn login(global: &Global, args: LoginArgs) -> Result<(), CliError> {
    let mut profiles = Profiles::load()?;
    let name = profiles.pick(global.profile.as_deref());
    let known = profiles.profiles.get(&name).cloned().unwrap_or_default();
    let endpoint = global
        .endpoint
        .clone()
        .or_else(|| Some(known.endpoint.clone()).filter(|e| !e.is_empty()))
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
    let project = global.project.clone().or(known.project.clone());
    let mut client = Client::new(&endpoint, project.clone().unwrap_or_default(), Credential::None)?;
    let (token, session) = if args.token_stdin {
        let key = read_line("the API key")?;
        (Some(key), None)
    } else if let Some(user) = &args.user {
        let password = if std::io::stdin().is_terminal() {
            rpassword::prompt_password(format!("Password for {user} in org {}: ", args.org))
                .map_err(|e| CliError::Failed(format!("cannot read the password: {e}")))?
        } else {
            read_line("the password")?
        };
        let body = json!({"org": args.org, "username": user, "password": password});
        let request = client
            .anonymous(Method::POST, &client.api("/auth/login"))
            .json(&body);
        let answer = json_of(client.send(request).await?).await?;
        (None, Some(session_of(&answer)?))
    } else {
        return Err(CliError::Usage(
            "say how to sign in: `--token-stdin` (an API key on standard input) or `--user NAME`".into(),
        ));
    };
    let credential = match (&token, &session) {
        (Some(t), _) => Credential::Key(t.clone()),
        (None, Some(s)) => Credential::Session(s.clone()),
        (None, None) => Credential::None,
    };
    client = Client::new(&client.endpoint, client.project.clone(), credential)?;
    let me = client.call(Method::GET, &client.api("/auth/me"), None).await?;
    // The call may have renewed the session (and revoked the first).
    let session = client.session().cloned();
    profiles.profiles.insert(
        name.clone(),
        Profile {
            endpoint: client.endpoint.clone(),
            project,
            token,
            session,
        },
    );
    profiles.current = Some(name.clone());
    let path = profiles.save()?;
    output::done(&format!(
        "signed in to {} as {} (org {}); profile {name:?} saved in {}",
        client.endpoint,
        output::shown(&me["user"]),
        output::shown(&me["org"]),
        path.display()
    ));
    Ok(())
}

/// The first line of standard input, trimmed: refused when empty.
fn read_line(what: &str) -> Result<String, CliError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Failed(format!("cannot read {what} from standard input: {e}")))?;
    let line = line.trim().to_owned();
    if line.is_empty() {
        return Err(CliError::Usage(format!("standard input held no {what}")));
    }
    Ok(line)
}

/// Forgets the profile's credentials; a session's refresh token is
/// revoked on the server first.
pub async fn logout(global: &Global) -> Result<(), CliError> {
    let mut profiles = Profiles::load()?;
    let name = profiles.pick(global.profile.as_deref());
    let Some(profile) = profiles.profiles.get_mut(&name) else {
        return Err(CliError::Usage(format!("there is no profile {name:?}")));
    };
    // The credentials are forgotten here even when the server cannot be
    // told (it is down, or gone): then the exit code says so.
    let mut revoked = Ok(());
    if let Some(session) = profile.session.take() {
        let client = Client::new(&profile.endpoint, String::new(), Credential::None)?;
        let request = client
            .anonymous(Method::POST, &client.api("/auth/logout"))
            .json(&json!({"refresh_token": session.refresh_token}));
        revoked = client.send(request).await.map(drop);
    }
    profile.token = None;
    profiles.save()?;
    if let Err(e) = revoked {
        return Err(CliError::Failed(format!(
            "profile {name:?} holds no credentials any more, but the server did not end the session: {e}"
        )));
    }
    output::done(&format!("signed out of profile {name:?}"));
    Ok(())
}

/// Who the profile signs in as, where.
pub async fn whoami(global: &Global) -> Result<(), CliError> {
    let mut client = Client::from_profile(global)?;
    let mut me = client.call(Method::GET, &client.api("/auth/me"), None).await?;
    me["endpoint"] = json!(client.endpoint);
    me["project"] = json!(client.project);
    output::print(
        global.output,
        &me,
        &[
            "user",
            "org",
            "principal_type",
            "principal_id",
            "endpoint",
            "project",
        ],
    );
    Ok(())
}
