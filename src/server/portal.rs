//! The sign-in routes under `/_s3gate/`: the portal page, the OIDC login
//! and callback, sign-out, the CLI's loopback login and the device flow.
//!
//! Every route that decides who someone is or hands out credentials writes
//! one audit line (`api: "login"`); the login redirect and the device code
//! request, which decide nothing, do not. Pages are HTML with a strict CSP
//! and `Cache-Control: no-store` (the portal shows secrets); the CLI's
//! endpoints answer JSON. Pure parts live in [`crate::login`].

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use subtle::ConstantTimeEq as _;

use super::Gateway;
use super::body::{Finish, GatewayBody};
use crate::audit::{AuditEvent, AuditPermit, rfc3339};
use crate::login::page::{self, GrantRow, PortalView, ShownCredentials};
use crate::login::rp::RelyingParty;
use crate::login::{
    self, BrowserSession, CliCode, DeviceCode, LOGIN_COOKIE, LoginState, SESSION_COOKIE,
};
use crate::policy::{Caller, Scope, principal_name};
use crate::session::web::Purpose;
use crate::session::{Identity, SessionCredentials};

/// Largest form a sign-in route reads.
const MAX_FORM: usize = 16 * 1024;
/// Shortest credentials worth handing out: past this the browser session
/// is nearly over and the person signs in again instead.
const MIN_CREDENTIALS: u64 = 60;

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Routes one request under `/_s3gate/` that is not an operations page.
pub async fn handle(
    gateway: &Gateway,
    req: Request<Incoming>,
    client: SocketAddr,
) -> Response<GatewayBody> {
    let nonce = login::random_token(16, &mut rand::rng());
    let Some(rp) = &gateway.login else {
        return html(
            StatusCode::NOT_FOUND,
            page::message(
                "Not found",
                "There is no such page. (Browser sign-in is not configured on this gateway.)",
                None,
                &nonce,
            ),
            &nonce,
            None,
        );
    };
    let now = SystemTime::now();
    let ctx = Ctx {
        gateway,
        rp,
        client,
        now,
        nonce,
    };
    let page = req.uri().path().trim_start_matches("/_s3gate/").to_owned();
    match (req.method().clone(), page.as_str()) {
        (Method::GET, "") => ctx.portal(&req).await,
        (Method::GET, "login") => ctx.login(&req).await,
        (Method::GET, "callback") => ctx.callback(&req).await,
        (Method::POST, "logout") => ctx.logout(),
        (Method::GET, "cli") => ctx.cli_confirm(&req),
        (Method::POST, "cli") => ctx.cli_approve(req).await,
        (Method::POST, "cli/token") => ctx.cli_token(req).await,
        (Method::POST, "device/start") => ctx.device_start(),
        (Method::GET, "device") => ctx.device_page(&req),
        (Method::POST, "device") => ctx.device_approve(req).await,
        (Method::POST, "device/token") => ctx.device_token(req).await,
        (_, page) => match allowed_methods(page) {
            Some(allow) => {
                let mut resp = ctx.page(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Method not allowed",
                    "This page does not answer that method.",
                    None,
                );
                resp.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
                resp
            }
            None => ctx.page(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such page.",
                None,
            ),
        },
    }
}

/// The methods a portal page answers (kept beside the routes above), for
/// the `405` a reserved page gives any other method.
fn allowed_methods(page: &str) -> Option<&'static str> {
    match page {
        "" | "login" | "callback" => Some("GET"),
        "cli" | "device" => Some("GET, POST"),
        "logout" | "cli/token" | "device/start" | "device/token" => Some("POST"),
        _ => None,
    }
}

struct Ctx<'a> {
    gateway: &'a Gateway,
    rp: &'a RelyingParty,
    client: SocketAddr,
    now: SystemTime,
    /// The CSP nonce of this response's page.
    nonce: String,
}

/// A route's audit line, its slot reserved before anything is decided.
struct Record {
    event: AuditEvent,
    permit: AuditPermit,
    started: Instant,
}

impl Record {
    fn deny(&mut self, error: &'static str, reason: impl Into<String>) {
        self.event.decision = "deny";
        self.event.error = Some(error);
        self.event.reason = reason.into();
    }

    fn allow(&mut self, identity: &Identity, reason: impl Into<String>) {
        self.event.set_identity(identity);
        self.event.decision = "allow";
        self.event.reason = reason.into();
    }

    fn finish(mut self, status: StatusCode) -> Finish {
        self.event.status = status.as_u16();
        Finish {
            permit: self.permit,
            event: self.event,
            started: self.started,
        }
    }
}

impl Ctx<'_> {
    fn secure(&self) -> bool {
        self.rp.config().secure()
    }

    async fn record(
        &self,
        operation: &'static str,
        headers: &http::HeaderMap,
    ) -> Result<Record, Response<GatewayBody>> {
        let request_id = super::new_request_id();
        let mut event = AuditEvent::begin("login", request_id, self.now, self.client, headers);
        event.operation = Some(operation);
        match self.gateway.audit.reserve().await {
            Some(permit) => Ok(Record {
                event,
                permit,
                started: Instant::now(),
            }),
            None => Err(self.page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "s3gate cannot write its audit log, so it refuses sign-ins. Try again shortly.",
                None,
            )),
        }
    }

    fn page(
        &self,
        status: StatusCode,
        title: &str,
        text: &str,
        record: Option<Record>,
    ) -> Response<GatewayBody> {
        let rid = record.as_ref().map(|r| r.event.request_id.clone());
        html(
            status,
            page::message(title, text, rid.as_deref(), &self.nonce),
            &self.nonce,
            record.map(|r| r.finish(status)),
        )
    }

    /// The signed-in browser, if its cookie opens and has not expired.
    fn browser(&self, req: &Request<Incoming>) -> Option<BrowserSession> {
        let value = cookie(req, SESSION_COOKIE, self.secure())?;
        self.gateway
            .keyring
            .open_web(Purpose::BrowserSession, value, self.now)
            .ok()
    }

    /// The start of every form that acts for the signed-in person (Allow,
    /// approve): the audit record, the browser session — only from a
    /// same-origin POST, a cross-site one is refused even with the cookie —
    /// and the form. A refusal is the page to answer, `hint` saying what
    /// to do.
    async fn acting_post(
        &self,
        req: Request<Incoming>,
        operation: &'static str,
        hint: &str,
    ) -> Result<(Record, BrowserSession, Vec<(String, String)>), Response<GatewayBody>> {
        let mut record = self.record(operation, req.headers()).await?;
        let session = match same_origin(&req, self.rp.config().base_url()) {
            Err(why) => Err(format!("cross-site request refused: {why}")),
            Ok(()) => self
                .browser(&req)
                .ok_or_else(|| "no signed-in browser session".to_owned()),
        };
        match session {
            Ok(session) => Ok((record, session, read_form(req).await)),
            Err(why) => {
                record.deny("AccessDenied", why);
                Err(self.page(StatusCode::FORBIDDEN, "Not signed in", hint, Some(record)))
            }
        }
    }

    /// Sends the browser to sign in, then back to this page.
    fn to_login(&self, req: &Request<Incoming>) -> Response<GatewayBody> {
        let here = req
            .uri()
            .path_and_query()
            .map_or("/_s3gate/", |p| p.as_str());
        let next = login::safe_next(Some(here));
        let location = format!(
            "/_s3gate/login?next={}",
            form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        );
        redirect(&location, &[])
    }

    /// `GET /_s3gate/`: who you are, what you may reach, and fresh
    /// credentials.
    async fn portal(&self, req: &Request<Incoming>) -> Response<GatewayBody> {
        // Signed in, with enough of the session left to be worth showing
        // credentials for; otherwise sign in (again).
        let Some(session) = self
            .browser(req)
            .filter(|s| s.exp.saturating_sub(unix(self.now)) >= MIN_CREDENTIALS)
        else {
            return self.to_login(req);
        };
        let mut record = match self.record("Portal", req.headers()).await {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        let creds = match self.issue(&session.identity, session.exp, &mut record) {
            Ok(c) => c,
            Err((status, text)) => {
                return self.page(status, "No credentials", &text, Some(record));
            }
        };
        let policy = self.gateway.policy.current();
        let caller = Caller {
            identity: &session.identity,
            chain: &[],
            client: Some(self.client.ip()),
            now: self.now,
        };
        let to_rows = |granted: Vec<crate::policy::Granted>| -> Vec<GrantRow> {
            granted
                .into_iter()
                .map(|g| GrantRow {
                    resource: g.resource,
                    actions: g.actions.to_string(),
                    rule: g.rule,
                })
                .collect()
        };
        let grants = to_rows(policy.reach(&caller));
        let denies = to_rows(policy.denies_for(&caller));
        let principal = principal_name(&session.identity);
        let expiration = rfc3339(creds.expires_at);
        let left = unix(creds.expires_at).saturating_sub(unix(self.now));
        let until = rfc3339(UNIX_EPOCH + Duration::from_secs(session.exp));
        let view = PortalView {
            principal: &principal,
            username: session.identity.username.as_deref(),
            email: session.identity.email.as_deref(),
            issuer: session.identity.issuer.as_deref(),
            groups: &session.identity.groups,
            grants: &grants,
            denies: &denies,
            gateway: self.rp.config().base_url(),
            region: &self.gateway.region,
            credentials: ShownCredentials {
                access_key_id: &creds.access_key_id,
                secret_access_key: creds.secret_access_key.expose(),
                session_token: &creds.session_token,
                expiration: &expiration,
                minutes_left: left / 60,
            },
            signed_in_until: &until,
            policy_version: policy.version(),
        };
        let body = page::portal(&view, &self.nonce);
        record.event.reason = format!(
            "portal: {} grants shown, credentials until {expiration}",
            grants.len()
        );
        html(
            StatusCode::OK,
            body,
            &self.nonce,
            Some(record.finish(StatusCode::OK)),
        )
    }

    /// Mints credentials for a signed-in person, never past `session_exp`,
    /// and refuses an identity that has been revoked.
    fn issue(
        &self,
        identity: &Identity,
        session_exp: u64,
        record: &mut Record,
    ) -> Result<SessionCredentials, (StatusCode, String)> {
        let left = session_exp.saturating_sub(unix(self.now));
        if left < MIN_CREDENTIALS {
            record.deny("ExpiredToken", "the browser session is about to end");
            return Err((
                StatusCode::UNAUTHORIZED,
                "Your sign-in is about to end. Sign out and sign in again.".into(),
            ));
        }
        let ttl = self
            .rp
            .config()
            .credentials_ttl
            .min(Duration::from_secs(left));
        let keyring = &self.gateway.keyring;
        let creds = keyring
            .mint(
                identity.clone(),
                Scope::all(),
                self.now,
                ttl,
                Vec::new(),
                &mut rand::rng(),
            )
            .map_err(|e| {
                record.deny("InternalError", format!("cannot mint a session: {e}"));
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("s3gate cannot issue credentials: {e}"),
                )
            })?;
        record.event.set_identity(identity);
        record.event.session_id = Some(creds.session_id.clone());
        record.event.access_key_id = Some(creds.access_key_id.clone());
        if let Some(why) = self.gateway.revoked_at_issue(&creds, self.now) {
            record.deny("AccessDenied", format!("revoked: {why}"));
            return Err((
                StatusCode::FORBIDDEN,
                format!("Your access has been revoked: {why}"),
            ));
        }
        record.event.decision = "allow";
        Ok(creds)
    }

    /// `GET /_s3gate/login?next=…`: off to the provider, with the login's
    /// state sealed into a short-lived cookie.
    async fn login(&self, req: &Request<Incoming>) -> Response<GatewayBody> {
        let next = login::safe_next(query(req, "next").as_deref());
        let exp = unix(self.now) + login::LOGIN_STATE_TTL;
        let (url, state) = match self.rp.begin(next, exp).await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "cannot start a login");
                return self.page(
                    StatusCode::BAD_GATEWAY,
                    "Sign-in unavailable",
                    &format!("{e}. Try again in a minute."),
                    None,
                );
            }
        };
        let Ok(sealed) =
            self.gateway
                .keyring
                .seal_web(Purpose::LoginState, &state, &mut rand::rng())
        else {
            return self.page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sign-in unavailable",
                "s3gate cannot seal the login state (is the keyring empty?).",
                None,
            );
        };
        let cookie =
            login::set_cookie(LOGIN_COOKIE, &sealed, login::LOGIN_STATE_TTL, self.secure());
        redirect(&url, &[cookie])
    }

    /// `GET /_s3gate/callback?code=…&state=…`: checks the state against the
    /// login cookie, trades the code (with the PKCE verifier), checks the
    /// ID token and signs the browser in.
    async fn callback(&self, req: &Request<Incoming>) -> Response<GatewayBody> {
        let mut record = match self.record("Login", req.headers()).await {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        let restart = "Start again from the s3gate page.";
        let state: Option<LoginState> = cookie(req, LOGIN_COOKIE, self.secure()).and_then(|v| {
            self.gateway
                .keyring
                .open_web(Purpose::LoginState, v, self.now)
                .ok()
        });
        let Some(state) = state else {
            record.deny(
                "InvalidToken",
                "no login under way in this browser (or it expired)",
            );
            return self.page(
                StatusCode::BAD_REQUEST,
                "Sign-in expired",
                &format!(
                    "This sign-in took too long, or was started in another browser. {restart}"
                ),
                Some(record),
            );
        };
        if let Some(error) = query(req, "error") {
            let description = query(req, "error_description").unwrap_or_default();
            record.deny(
                "AccessDenied",
                format!("the provider said {error}: {description}"),
            );
            return self.page(
                StatusCode::FORBIDDEN,
                "Sign-in refused",
                &format!(
                    "The identity provider refused the sign-in ({error}: {description}). {restart}"
                ),
                Some(record),
            );
        }
        let given = query(req, "state").unwrap_or_default();
        let state_ok = given.len() == state.state.len()
            && bool::from(given.as_bytes().ct_eq(state.state.as_bytes()));
        let Some(code) = query(req, "code").filter(|_| state_ok) else {
            record.deny(
                "InvalidToken",
                "the callback's state does not match the login",
            );
            return self.page(
                StatusCode::BAD_REQUEST,
                "Sign-in refused",
                &format!("The sign-in answer does not belong to this browser's login. {restart}"),
                Some(record),
            );
        };
        let id_token = match self.rp.finish(&code, &state).await {
            Ok(t) => t,
            Err(e) => {
                record.deny("AccessDenied", e.to_string());
                return self.page(
                    StatusCode::BAD_GATEWAY,
                    "Sign-in failed",
                    &format!("{e}. {restart}"),
                    Some(record),
                );
            }
        };
        let verified = match self.gateway.oidc.verify(&id_token, self.now).await {
            Ok(v) => v,
            Err(e) => {
                let sts = e.to_sts_error();
                record.deny(sts.code, sts.message.clone());
                return self.page(
                    StatusCode::FORBIDDEN,
                    "Sign-in refused",
                    &sts.message,
                    Some(record),
                );
            }
        };
        let ttl = self.rp.config().browser_session_ttl.as_secs();
        let session = BrowserSession {
            identity: verified.identity,
            exp: unix(self.now) + ttl,
        };
        let Ok(sealed) =
            self.gateway
                .keyring
                .seal_web(Purpose::BrowserSession, &session, &mut rand::rng())
        else {
            record.deny("InternalError", "the identity is too large for a cookie");
            return self.page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sign-in failed",
                "Your identity (groups, names) is too large to keep in a browser session.",
                Some(record),
            );
        };
        record.allow(
            &session.identity,
            format!(
                "browser signed in through {} until {}",
                session.identity.issuer.as_deref().unwrap_or(""),
                rfc3339(UNIX_EPOCH + Duration::from_secs(session.exp))
            ),
        );
        let cookies = [
            login::set_cookie(SESSION_COOKIE, &sealed, ttl, self.secure()),
            login::set_cookie(LOGIN_COOKIE, "", 0, self.secure()),
        ];
        let mut resp = redirect(&state.next, &cookies);
        resp.body_mut()
            .set_finish(record.finish(StatusCode::SEE_OTHER));
        resp
    }

    /// `POST /_s3gate/logout`.
    fn logout(&self) -> Response<GatewayBody> {
        let mut resp = self.page(
            StatusCode::OK,
            "Signed out",
            "You are signed out of s3gate. Credentials already handed out work until they expire.",
            None,
        );
        if let Ok(v) =
            HeaderValue::from_str(&login::set_cookie(SESSION_COOKIE, "", 0, self.secure()))
        {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
        resp
    }

    /// `GET /_s3gate/cli?port=…&state=…&challenge=…`: asks the signed-in
    /// person to let the CLI on this computer in.
    fn cli_confirm(&self, req: &Request<Incoming>) -> Response<GatewayBody> {
        let params = match cli_params(|k| query(req, k)) {
            Ok(p) => p,
            Err(why) => {
                return self.page(StatusCode::BAD_REQUEST, "Bad CLI sign-in", &why, None);
            }
        };
        let Some(session) = self.browser(req) else {
            return self.to_login(req);
        };
        html(
            StatusCode::OK,
            page::confirm_cli(
                &principal_name(&session.identity),
                &params.port,
                &params.state,
                &params.challenge,
                &self.nonce,
            ),
            &self.nonce,
            None,
        )
    }

    /// `POST /_s3gate/cli`: the person allowed it; hands a one-time code to
    /// the CLI's loopback listener.
    async fn cli_approve(&self, req: Request<Incoming>) -> Response<GatewayBody> {
        let hint = "Sign in on the s3gate page first, then run `s3gate login` again.";
        let (mut record, session, form) = match self.acting_post(req, "CliLogin", hint).await {
            Ok(x) => x,
            Err(resp) => return resp,
        };
        let params = match cli_params(|k| form_value(&form, k)) {
            Ok(p) => p,
            Err(why) => {
                record.deny("InvalidRequest", why.clone());
                return self.page(
                    StatusCode::BAD_REQUEST,
                    "Bad CLI sign-in",
                    &why,
                    Some(record),
                );
            }
        };
        if form_value(&form, "cancel").is_some() {
            record.event.set_identity(&session.identity);
            record.deny("AccessDenied", "the person cancelled the CLI sign-in");
            let location = login::loopback_refusal(&params.port, &params.state);
            let mut resp = redirect(location.as_deref().unwrap_or("/_s3gate/"), &[]);
            resp.body_mut()
                .set_finish(record.finish(StatusCode::SEE_OTHER));
            return resp;
        }
        let code = CliCode {
            id: login::random_token(16, &mut rand::rng()),
            identity: session.identity.clone(),
            challenge: params.challenge,
            session_exp: session.exp,
            exp: unix(self.now) + login::CLI_CODE_TTL,
        };
        let sealed = self
            .gateway
            .keyring
            .seal_web(Purpose::CliCode, &code, &mut rand::rng());
        let location = sealed
            .ok()
            .and_then(|s| login::loopback_callback(&params.port, &params.state, &s));
        let Some(location) = location else {
            record.deny("InternalError", "cannot seal the one-time code");
            return self.page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "CLI sign-in failed",
                "s3gate cannot issue a one-time code.",
                Some(record),
            );
        };
        record.allow(
            &session.identity,
            format!("one-time code for the CLI on 127.0.0.1:{}", params.port),
        );
        let mut resp = redirect(&location, &[]);
        resp.body_mut()
            .set_finish(record.finish(StatusCode::SEE_OTHER));
        resp
    }

    /// `POST /_s3gate/cli/token` (`code`, `code_verifier`): the CLI trades
    /// its one-time code for credentials.
    async fn cli_token(&self, req: Request<Incoming>) -> Response<GatewayBody> {
        let mut record = match self.record("CliToken", req.headers()).await {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        let form = read_form(req).await;
        let code: Option<CliCode> = form_value(&form, "code").and_then(|c| {
            self.gateway
                .keyring
                .open_web(Purpose::CliCode, &c, self.now)
                .ok()
        });
        let verifier = form_value(&form, "code_verifier").unwrap_or_default();
        let refused = match &code {
            None => Some("the code is not valid or has expired"),
            Some(c) if !login::pkce_matches(&verifier, &c.challenge) => {
                Some("the code verifier does not match")
            }
            Some(c) if !self.gateway.login_tables.first_use(&c.id) => {
                Some("the code was already used")
            }
            _ => None,
        };
        let (Some(code), None) = (code, refused) else {
            let why = refused.unwrap_or("refused");
            record.deny("InvalidToken", why);
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", why, record);
        };
        self.credentials_json(&code.identity, code.session_exp, record, "CLI signed in")
    }

    /// Credentials as `credential_process` JSON, audited.
    fn credentials_json(
        &self,
        identity: &Identity,
        session_exp: u64,
        mut record: Record,
        what: &str,
    ) -> Response<GatewayBody> {
        match self.issue(identity, session_exp, &mut record) {
            Ok(creds) => {
                let expiration = rfc3339(creds.expires_at);
                record.event.reason = format!("{what}: credentials until {expiration}");
                let body = serde_json::json!({
                    "Version": 1,
                    "AccessKeyId": creds.access_key_id,
                    "SecretAccessKey": creds.secret_access_key.expose(),
                    "SessionToken": creds.session_token,
                    "Expiration": expiration,
                    "Identity": principal_name(identity),
                });
                json(StatusCode::OK, &body, Some(record.finish(StatusCode::OK)))
            }
            Err((status, text)) => oauth_error(status, "access_denied", &text, record),
        }
    }

    /// `POST /_s3gate/device/start`: a device code for a terminal without a
    /// browser (RFC 8628's shape).
    fn device_start(&self) -> Response<GatewayBody> {
        let user_code = login::new_user_code(&mut rand::rng());
        let code = DeviceCode {
            user_code: user_code.clone(),
            exp: unix(self.now) + login::DEVICE_CODE_TTL,
        };
        let Ok(device_code) =
            self.gateway
                .keyring
                .seal_web(Purpose::DeviceCode, &code, &mut rand::rng())
        else {
            return json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &serde_json::json!({"error": "server_error"}),
                None,
            );
        };
        let base = self.rp.config().base_url();
        json(
            StatusCode::OK,
            &serde_json::json!({
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": format!("{base}/_s3gate/device"),
                "verification_uri_complete": format!("{base}/_s3gate/device?user_code={user_code}"),
                "expires_in": login::DEVICE_CODE_TTL,
                "interval": login::DEVICE_POLL_INTERVAL,
            }),
            None,
        )
    }

    /// `GET /_s3gate/device`: the form to type a terminal's code into.
    fn device_page(&self, req: &Request<Incoming>) -> Response<GatewayBody> {
        let Some(session) = self.browser(req) else {
            return self.to_login(req);
        };
        let prefill = query(req, "user_code")
            .as_deref()
            .and_then(login::normalize_user_code)
            .unwrap_or_default();
        html(
            StatusCode::OK,
            page::device_form(
                &principal_name(&session.identity),
                &prefill,
                None,
                &self.nonce,
            ),
            &self.nonce,
            None,
        )
    }

    /// `POST /_s3gate/device` (`user_code`): the signed-in person approves
    /// the terminal showing that code.
    async fn device_approve(&self, req: Request<Incoming>) -> Response<GatewayBody> {
        let hint = "Sign in on the s3gate page first.";
        let (mut record, session, form) = match self.acting_post(req, "DeviceLogin", hint).await {
            Ok(x) => x,
            Err(resp) => return resp,
        };
        let principal = principal_name(&session.identity);
        let Some(user_code) = form_value(&form, "user_code")
            .as_deref()
            .and_then(login::normalize_user_code)
        else {
            record.deny("InvalidRequest", "not a device code");
            let body = page::device_form(
                &principal,
                "",
                Some("That is not a code s3gate shows: it looks like BCDF-GHJK."),
                &self.nonce,
            );
            return html(
                StatusCode::BAD_REQUEST,
                body,
                &self.nonce,
                Some(record.finish(StatusCode::BAD_REQUEST)),
            );
        };
        self.gateway.login_tables.approve(
            &user_code,
            login::device::Approval {
                identity: session.identity.clone(),
                session_exp: session.exp,
            },
        );
        record.allow(
            &session.identity,
            format!("device code {user_code} approved"),
        );
        self.page(
            StatusCode::OK,
            "Device signed in",
            &format!("The terminal showing {user_code} is signed in as {principal}. Return to it."),
            Some(record),
        )
    }

    /// `POST /_s3gate/device/token` (`device_code`): the terminal polls.
    /// Waiting is not audited; the outcome is.
    async fn device_token(&self, req: Request<Incoming>) -> Response<GatewayBody> {
        let headers = req.headers().clone();
        let form = read_form(req).await;
        let code = form_value(&form, "device_code").map(|c| {
            self.gateway
                .keyring
                .open_web::<DeviceCode>(Purpose::DeviceCode, &c, self.now)
        });
        let code = match code {
            Some(Ok(c)) => c,
            other => {
                let expired =
                    matches!(other, Some(Err(crate::session::web::WebSealError::Expired)));
                let (error, why) = if expired {
                    ("expired_token", "the device code has expired; start again")
                } else {
                    ("invalid_grant", "not a device code this gateway issued")
                };
                let mut record = match self.record("DeviceToken", &headers).await {
                    Ok(r) => r,
                    Err(resp) => return resp,
                };
                record.deny("InvalidToken", why);
                return oauth_error(StatusCode::BAD_REQUEST, error, why, record);
            }
        };
        let Some(approval) = self.gateway.login_tables.take(&code.user_code) else {
            return json(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({
                    "error": "authorization_pending",
                    "error_description": "waiting for the code to be approved in a browser",
                }),
                None,
            );
        };
        let record = match self.record("DeviceToken", &headers).await {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        self.credentials_json(
            &approval.identity,
            approval.session_exp,
            record,
            "device signed in",
        )
    }
}

/// The CLI's loopback login parameters, checked.
struct CliParams {
    port: String,
    state: String,
    challenge: String,
}

fn cli_params(get: impl Fn(&str) -> Option<String>) -> Result<CliParams, String> {
    let port = get("port").unwrap_or_default();
    let state = get("state").unwrap_or_default();
    let challenge = get("challenge").unwrap_or_default();
    if login::loopback_callback(&port, "", "").is_none() {
        return Err("`port` must be the CLI's loopback port (1024-65535).".into());
    }
    if !login::is_token_text(&state, 16, 128) {
        return Err("`state` must be 16-128 characters of base64url.".into());
    }
    if !login::is_token_text(&challenge, 43, 43) {
        return Err("`challenge` must be a PKCE S256 challenge (43 characters).".into());
    }
    Ok(CliParams {
        port,
        state,
        challenge,
    })
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie<'r>(req: &'r Request<Incoming>, base: &str, secure: bool) -> Option<&'r str> {
    login::cookie_value(
        req.headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
        base,
        secure,
    )
}

/// A query parameter, decoded.
fn query(req: &Request<Incoming>, name: &str) -> Option<String> {
    form_urlencoded::parse(req.uri().query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A bounded urlencoded form; an unreadable or oversized one is empty.
async fn read_form(req: Request<Incoming>) -> Vec<(String, String)> {
    match Limited::new(req.into_body(), MAX_FORM).collect().await {
        Ok(body) => form_urlencoded::parse(&body.to_bytes())
            .into_owned()
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn form_value(form: &[(String, String)], name: &str) -> Option<String> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// Whether a browser's POST comes from s3gate's own pages. Browsers send
/// `Origin` on every POST; the `SameSite=Lax` cookie is the other half of
/// the defence. Names what was wrong.
fn same_origin(req: &Request<Incoming>, base: &str) -> Result<(), String> {
    let headers = req.headers();
    let value = |name| {
        headers
            .get(name)
            .map(|v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    if let Some(origin) = value(header::ORIGIN)
        && origin != base
    {
        return Err(format!("Origin `{origin}` is not `{base}`"));
    }
    if let Some(site) = value(http::HeaderName::from_static("sec-fetch-site"))
        && site != "same-origin"
        && site != "none"
    {
        return Err(format!("Sec-Fetch-Site is `{site}`"));
    }
    Ok(())
}

/// An HTML page with the headers every page carries.
fn html(
    status: StatusCode,
    body: String,
    nonce: &str,
    finish: Option<Finish>,
) -> Response<GatewayBody> {
    let mut resp = Response::new(GatewayBody::full(body, finish));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&page::csp(nonce)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    no_store(h);
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

/// The headers every sign-in answer carries: nothing cached (pages and
/// answers carry credentials), nothing sniffed, no referrer to other
/// sites. (`same-origin`, not `no-referrer`: under the latter browsers send
/// `Origin: null` on the page's own form posts, which the CSRF check must
/// refuse.)
fn no_store(h: &mut http::HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// `303 See Other` to `location`, setting `cookies`.
fn redirect(location: &str, cookies: &[String]) -> Response<GatewayBody> {
    let mut resp = Response::new(GatewayBody::full(bytes::Bytes::new(), None));
    *resp.status_mut() = StatusCode::SEE_OTHER;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    no_store(h);
    resp
}

fn json(
    status: StatusCode,
    value: &serde_json::Value,
    finish: Option<Finish>,
) -> Response<GatewayBody> {
    let mut resp = Response::new(GatewayBody::full(value.to_string(), finish));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    no_store(h);
    resp
}

/// An OAuth-style JSON error (`error`, `error_description`), audited.
fn oauth_error(
    status: StatusCode,
    error: &str,
    description: &str,
    record: Record,
) -> Response<GatewayBody> {
    json(
        status,
        &serde_json::json!({"error": error, "error_description": description}),
        Some(record.finish(status)),
    )
}
