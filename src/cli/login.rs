//! A person's side of signing in: `s3gate login` (browser with a loopback
//! callback, or `--device`), `s3gate credentials sso` (the
//! `credential_process` that signs in when its cached session has run out)
//! and `s3gate configure` (writes the aws CLI profile that uses it).
//!
//! Does I/O: the gateway, a loopback listener, the browser, the cache and
//! the aws config file. The gateway's side is `s3gate::login` and its
//! routes under `/_s3gate/`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::Full;
use sha2::{Digest, Sha256};

use s3gate::identity::http::HttpClient;
use s3gate::login::{is_token_text, pkce_challenge, random_token};

const GATEWAY_TIMEOUT: Duration = Duration::from_secs(30);

/// How a person signs in.
pub struct Login {
    /// The gateway's base URL, without a trailing slash.
    pub gateway: String,
    /// Device code instead of a browser on this machine.
    pub device: bool,
    /// Print the URL only; do not start a browser.
    pub no_browser: bool,
    /// How long to wait for the person.
    pub timeout: Duration,
    pub cache_dir: Option<PathBuf>,
}

/// Where progress goes: the terminal itself when there is one, because
/// the aws CLI captures a `credential_process`'s stderr and the person
/// would never see the sign-in URL.
pub struct Progress(Box<dyn std::io::Write + Send>);

impl Progress {
    pub fn terminal() -> Progress {
        match std::fs::OpenOptions::new().write(true).open("/dev/tty") {
            Ok(tty) => Progress(Box::new(tty)),
            Err(_) => Progress(Box::new(std::io::stderr())),
        }
    }

    pub fn stderr() -> Progress {
        Progress(Box::new(std::io::stderr()))
    }

    fn say(&mut self, text: &str) {
        let _ = writeln!(self.0, "{text}");
        let _ = self.0.flush();
    }
}

/// The signed-in session cached for `gateway`, while it has life left.
pub fn cached_session(gateway: &str, cache_dir: Option<&Path>) -> Option<String> {
    let path = cache_file(gateway.trim_end_matches('/'), cache_dir?);
    super::cache::cached(&path, std::time::SystemTime::now())
}

/// Removes the session cached for `gateway`; whether there was one.
pub fn forget(gateway: &str, dir: &Path) -> anyhow::Result<bool> {
    let path = cache_file(gateway, dir);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

fn cache_file(gateway: &str, dir: &Path) -> PathBuf {
    let key = hex::encode(&Sha256::digest(gateway.as_bytes())[..12]);
    dir.join(format!("sso-{key}.json"))
}

impl Login {
    fn cache_file(&self) -> Option<PathBuf> {
        self.cache_dir
            .as_deref()
            .map(|d| cache_file(&self.gateway, d))
    }

    /// The cached session if it has life left, else a new sign-in.
    pub async fn credentials(&self, progress: &mut Progress) -> anyhow::Result<String> {
        if let Some(json) = cached_session(&self.gateway, self.cache_dir.as_deref()) {
            return Ok(json);
        }
        self.sign_in(progress).await
    }

    /// Signs in now and caches the session (owner-only file).
    pub async fn sign_in(&self, progress: &mut Progress) -> anyhow::Result<String> {
        let http = HttpClient::new();
        let json = if self.device {
            self.device_flow(&http, progress).await?
        } else {
            self.browser_flow(&http, progress).await?
        };
        let v: serde_json::Value =
            serde_json::from_str(&json).context("the gateway's answer is not JSON")?;
        let who = v["Identity"].as_str().unwrap_or("you");
        let until = v["Expiration"].as_str().unwrap_or("?");
        progress.say(&format!(
            "Signed in as {who}; credentials valid until {until}."
        ));
        let out = serde_json::json!({
            "Version": 1,
            "AccessKeyId": v["AccessKeyId"],
            "SecretAccessKey": v["SecretAccessKey"],
            "SessionToken": v["SessionToken"],
            "Expiration": v["Expiration"],
        })
        .to_string();
        if let Some(path) = self.cache_file()
            && let Err(e) = super::cache::write_private(&path, &out)
        {
            progress.say(&format!(
                "warning: cannot cache the session in {}: {e}",
                path.display()
            ));
        }
        Ok(out)
    }

    /// The browser signs in at the gateway, which sends a one-time code to
    /// a listener on 127.0.0.1; the code and this process's PKCE verifier
    /// buy the credentials.
    async fn browser_flow(
        &self,
        http: &HttpClient,
        progress: &mut Progress,
    ) -> anyhow::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot listen on 127.0.0.1 for the browser's answer")?;
        let port = listener.local_addr()?.port();
        let mut rng = rand::rng();
        let state = random_token(24, &mut rng);
        let verifier = random_token(32, &mut rng);
        let url = format!(
            "{}/_s3gate/cli?port={port}&state={state}&challenge={}",
            self.gateway,
            pkce_challenge(&verifier)
        );
        progress.say(&format!(
            "Sign in to {} in your browser:\n\n  {url}\n",
            self.gateway
        ));
        if self.no_browser {
            progress.say("Open that address in a browser on this computer.");
        } else if let Err(e) = open_browser(&url) {
            progress.say(&format!(
                "(Could not start a browser: {e}. Open the address yourself.)"
            ));
        }
        progress.say(&format!(
            "Waiting up to {} min for the sign-in to finish (Ctrl-C to give up)…",
            self.timeout.as_secs().div_ceil(60)
        ));
        let code = tokio::time::timeout(self.timeout, wait_for_code(listener, &state))
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "no sign-in within {}s; run the command again",
                    self.timeout.as_secs()
                )
            })??;
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("code", &code)
            .append_pair("code_verifier", &verifier)
            .finish();
        let (status, body) =
            post(http, &format!("{}/_s3gate/cli/token", self.gateway), form).await?;
        if !status.is_success() {
            bail!("the gateway refused the sign-in: {}", oauth_error(&body));
        }
        Ok(body)
    }

    /// RFC 8628 style: show a code, poll until someone approves it.
    async fn device_flow(
        &self,
        http: &HttpClient,
        progress: &mut Progress,
    ) -> anyhow::Result<String> {
        let (status, body) = post(
            http,
            &format!("{}/_s3gate/device/start", self.gateway),
            String::new(),
        )
        .await?;
        if !status.is_success() {
            bail!(
                "the gateway does not offer device sign-in ({status}): {}",
                oauth_error(&body)
            );
        }
        let start: serde_json::Value =
            serde_json::from_str(&body).context("the gateway's answer is not JSON")?;
        let field = |k: &str| {
            start[k]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("the gateway's answer lacks `{k}`"))
        };
        let (device_code, user_code, uri) = (
            field("device_code")?,
            field("user_code")?,
            field("verification_uri")?,
        );
        let interval = Duration::from_secs(start["interval"].as_u64().unwrap_or(2).clamp(1, 30));
        progress.say(&format!(
            "To sign in, open this address in any browser:\n\n  {uri}\n\nand enter the code\n\n  {user_code}\n"
        ));
        progress.say("Waiting for the code to be approved (Ctrl-C to give up)…");
        let deadline = Instant::now() + self.timeout;
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("device_code", &device_code)
            .finish();
        loop {
            tokio::time::sleep(interval).await;
            let (status, body) = post(
                http,
                &format!("{}/_s3gate/device/token", self.gateway),
                form.clone(),
            )
            .await?;
            if status.is_success() {
                return Ok(body);
            }
            let pending = serde_json::from_str::<serde_json::Value>(&body)
                .is_ok_and(|v| v["error"] == "authorization_pending");
            if !pending {
                bail!("the gateway refused the sign-in: {}", oauth_error(&body));
            }
            if Instant::now() >= deadline {
                bail!(
                    "the code was not approved within {}s; run the command again",
                    self.timeout.as_secs()
                );
            }
        }
    }
}

/// Serves the loopback callback until a request brings the code for
/// `state`; answers the browser with a page saying what happened.
async fn wait_for_code(listener: tokio::net::TcpListener, state: &str) -> anyhow::Result<String> {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<String, String>>(1);
    let expected = state.to_owned();
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            let expected = expected.clone();
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let tx = tx.clone();
                let answer = callback_answer(req.uri(), &expected);
                async move {
                    let (status, text) = match &answer {
                        Some(Ok(_)) => (
                            200,
                            "Signed in. You can close this tab and return to your terminal.",
                        ),
                        Some(Err(_)) => (
                            400,
                            "Not signed in. Return to your terminal for what happened.",
                        ),
                        None => (404, "Not found."),
                    };
                    if let Some(a) = answer {
                        let _ = tx.send(a).await;
                    }
                    let page = format!(
                        "<!doctype html><meta charset=\"utf-8\"><title>s3gate</title>\
                         <body style=\"font:16px system-ui;margin:3em\"><p id=\"message\">{text}</p></body>"
                    );
                    let mut resp = http::Response::new(Full::new(Bytes::from(page)));
                    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
                    resp.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("text/html; charset=utf-8"),
                    );
                    Ok::<_, std::convert::Infallible>(resp)
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(false)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let result = rx.recv().await;
    // Let the page reach the browser before the listener goes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.abort();
    match result {
        Some(Ok(code)) => Ok(code),
        Some(Err(e)) => bail!("{e}"),
        None => bail!("the loopback listener stopped"),
    }
}

/// The code from a `/callback?code=…&state=…` for `expected` state;
/// `None` for other paths (a browser also asks for /favicon.ico).
fn callback_answer(uri: &http::Uri, expected: &str) -> Option<Result<String, String>> {
    if uri.path() != "/callback" {
        return None;
    }
    let params: Vec<(String, String)> =
        form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let state = get("state").unwrap_or("");
    let same = {
        use subtle::ConstantTimeEq as _;
        state.len() == expected.len() && bool::from(state.as_bytes().ct_eq(expected.as_bytes()))
    };
    match (get("code"), get("error")) {
        (_, Some(error)) if same => Some(Err(format!(
            "the sign-in was refused in the browser ({error}); run the command again to retry"
        ))),
        (Some(code), None) if same && is_token_text(code, 16, 4096) => Some(Ok(code.to_owned())),
        _ => Some(Err(
            "the callback's state does not match this sign-in".into()
        )),
    }
}

/// Starts the person's browser on `url`: `$BROWSER` if set, else the
/// desktop's opener.
fn open_browser(url: &str) -> std::io::Result<()> {
    let opener = std::env::var("BROWSER").ok().filter(|b| !b.is_empty());
    let program = opener.unwrap_or_else(|| {
        if cfg!(target_os = "macos") {
            "open".to_owned()
        } else {
            "xdg-open".to_owned()
        }
    });
    std::process::Command::new(program)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(drop)
}

async fn post(
    http: &HttpClient,
    url: &str,
    form: String,
) -> anyhow::Result<(http::StatusCode, String)> {
    let req = http::Request::post(url)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        // Shown on the device approval page, so the person approving can
        // tell what asked.
        .header(
            http::header::USER_AGENT,
            format!(
                "s3gate-cli/{} ({})",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::OS
            ),
        )
        .body(Full::new(Bytes::from(form)))?;
    let answer = http
        .send(req, 64 * 1024, GATEWAY_TIMEOUT)
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    Ok((
        answer.status,
        String::from_utf8_lossy(&answer.body).into_owned(),
    ))
}

/// `error: description` from an OAuth-style JSON error, or the text.
fn oauth_error(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) => format!(
            "{}: {}",
            v["error"].as_str().unwrap_or("error"),
            v["error_description"].as_str().unwrap_or("")
        ),
        Err(_) => body.chars().take(200).collect(),
    }
}

/// What `s3gate configure` writes.
pub struct Profile<'a> {
    pub name: &'a str,
    /// The portal, where the CLI signs in.
    pub gateway: &'a str,
    /// The S3 endpoint (`endpoint_url`).
    pub endpoint: &'a str,
    pub region: &'a str,
    pub device: bool,
}

/// Writes (or replaces) the profile's section in the aws config file,
/// leaving every other section as it was.
pub fn configure(path: &Path, profile: &Profile<'_>, exe: &Path) -> anyhow::Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let exe = exe.to_string_lossy();
    let exe = if exe.contains(char::is_whitespace) {
        format!("\"{exe}\"")
    } else {
        exe.into_owned()
    };
    let header = if profile.name == "default" {
        "[default]".to_owned()
    } else {
        format!("[profile {}]", profile.name)
    };
    let section = format!(
        "{header}\ncredential_process = {exe} credentials sso --gateway {}{}\nendpoint_url = {}\nregion = {}\n",
        profile.gateway,
        if profile.device { " --device" } else { "" },
        profile.endpoint,
        profile.region,
    );
    let text = replace_section(&existing, &header, &section);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("s3gate-tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    // The file replaces the old one: keep its permissions (a 0600 config
    // stays 0600).
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(&tmp, meta.permissions())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// `text` with the section headed `header` replaced by `section` (or
/// `section` appended).
fn replace_section(text: &str, header: &str, section: &str) -> String {
    let mut out = String::with_capacity(text.len() + section.len());
    let mut replaced = false;
    let mut skipping = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            skipping = trimmed == header;
            if skipping && !replaced {
                out.push_str(section);
                out.push('\n');
                replaced = true;
            }
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !replaced {
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(section);
    }
    out
}

/// The aws CLI's config file: `$AWS_CONFIG_FILE` or `~/.aws/config`.
pub fn aws_config_path() -> Option<PathBuf> {
    std::env::var_os("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".aws").join("config")))
}

/// The address the gateway is reached at, as given, without a trailing
/// slash; refuses what cannot be one.
pub fn gateway_url(url: &str) -> anyhow::Result<String> {
    let trimmed = url.trim_end_matches('/');
    let uri: http::Uri = trimmed
        .parse()
        .with_context(|| format!("not a URL: {url}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        bail!("{url}: the gateway must be an http:// or https:// URL");
    }
    Ok(trimmed.to_owned())
}

#[derive(clap::Args)]
pub struct LoginArgs {
    /// The gateway's base URL.
    #[arg(long, env = "S3GATE_GATEWAY")]
    gateway: String,
    /// Sign in from another device's browser with a short code.
    #[arg(long)]
    device: bool,
    /// Print the sign-in address; do not start a browser.
    #[arg(long)]
    no_browser: bool,
    /// How long to wait for the sign-in.
    #[arg(long, default_value = "5m", value_parser = s3gate::config::duration::parse)]
    timeout: Duration,
    /// Where the session is cached. Default: `$XDG_CACHE_HOME/s3gate`
    /// or `~/.cache/s3gate`.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Also print the credentials as `credential_process` JSON.
    #[arg(long)]
    print: bool,
}

#[derive(clap::Args)]
pub struct LogoutArgs {
    /// The gateway's base URL.
    #[arg(long, env = "S3GATE_GATEWAY")]
    gateway: String,
    /// Where the session is cached.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct ConfigureArgs {
    /// The gateway's base URL: its sign-in portal (`login.public_url`).
    #[arg(long, env = "S3GATE_GATEWAY")]
    gateway: String,
    /// The S3 endpoint the profile sends requests to (`login.s3_url`, as
    /// the portal page shows it). Default: the gateway's URL (a gateway
    /// serving the portal and S3 on one host).
    #[arg(long)]
    endpoint_url: Option<String>,
    /// The profile to write (replaced if it exists).
    #[arg(long, default_value = "s3gate")]
    profile: String,
    /// The region the profile names (s3gate accepts any; it must match
    /// what clients sign for).
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Sign in with a device code rather than a browser on this machine.
    #[arg(long)]
    device: bool,
    /// The aws config file. Default: `$AWS_CONFIG_FILE` or
    /// `~/.aws/config`.
    #[arg(long)]
    config_file: Option<PathBuf>,
}

/// `s3gate login`.
pub async fn run_login(args: LoginArgs) -> anyhow::Result<()> {
    let login = Login {
        gateway: gateway_url(&args.gateway)?,
        device: args.device,
        no_browser: args.no_browser,
        timeout: args.timeout,
        cache_dir: args.cache_dir.or_else(super::default_cache_dir),
    };
    let json = login.sign_in(&mut Progress::stderr()).await?;
    if args.print {
        println!("{json}");
    }
    Ok(())
}

/// `s3gate logout`.
pub fn run_logout(args: LogoutArgs) -> anyhow::Result<()> {
    let gateway = gateway_url(&args.gateway)?;
    let dir = args
        .cache_dir
        .or_else(super::default_cache_dir)
        .context("no cache folder: set HOME or XDG_CACHE_HOME, or pass --cache-dir")?;
    if forget(&gateway, &dir)? {
        eprintln!("Signed out of {gateway} on this machine.");
    } else {
        eprintln!("Not signed in to {gateway} on this machine.");
    }
    Ok(())
}

/// `s3gate configure`.
pub fn run_configure(args: ConfigureArgs) -> anyhow::Result<()> {
    let gateway = gateway_url(&args.gateway)?;
    let endpoint = match &args.endpoint_url {
        Some(url) => gateway_url(url)?,
        None => gateway.clone(),
    };
    let path = args
        .config_file
        .or_else(aws_config_path)
        .context("no aws config file: set HOME or AWS_CONFIG_FILE, or pass --config-file")?;
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let profile = args.profile;
    configure(
        &path,
        &Profile {
            name: &profile,
            gateway: &gateway,
            endpoint: &endpoint,
            region: &args.region,
            device: args.device,
        },
        &exe,
    )?;
    eprintln!(
        "Wrote profile `{profile}` to {}.\nTry it:\n\n  aws --profile {profile} s3 ls\n\nThe first \
         command signs you in{}; later ones reuse the session until it expires.",
        path.display(),
        if args.device {
            " with a device code"
        } else {
            " in your browser"
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_replaces_its_section_and_keeps_the_rest() {
        let before = "[default]\nregion = eu-west-1\n\n[profile corp]\nregion = old\nfoo = bar\n\n[profile other]\nregion = us-east-2\n";
        let section = "[profile corp]\nendpoint_url = http://g\n";
        let after = replace_section(before, "[profile corp]", section);
        assert_eq!(
            after,
            "[default]\nregion = eu-west-1\n\n[profile corp]\nendpoint_url = http://g\n\n[profile other]\nregion = us-east-2\n"
        );
        let appended = replace_section("[default]\nregion = x\n", "[profile corp]", section);
        assert_eq!(
            appended,
            "[default]\nregion = x\n\n[profile corp]\nendpoint_url = http://g\n"
        );
        assert_eq!(replace_section("", "[profile corp]", section), section);
    }

    #[test]
    fn the_callback_must_carry_this_sign_ins_state() {
        let ok: http::Uri = "/callback?code=abcdefghijklmnopqrst&state=S1S1S1"
            .parse()
            .unwrap();
        assert_eq!(
            callback_answer(&ok, "S1S1S1"),
            Some(Ok("abcdefghijklmnopqrst".into()))
        );
        assert!(matches!(callback_answer(&ok, "S2S2S2"), Some(Err(_))));
        let refused: http::Uri = "/callback?error=access_denied&state=S1S1S1"
            .parse()
            .unwrap();
        assert!(
            matches!(callback_answer(&refused, "S1S1S1"), Some(Err(e)) if e.contains("refused"))
        );
        let other: http::Uri = "/favicon.ico".parse().unwrap();
        assert_eq!(callback_answer(&other, "S1S1S1"), None);
    }
}
