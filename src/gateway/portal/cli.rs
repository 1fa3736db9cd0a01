//! `s3gate login`'s side of the portal: the confirmation page, the Allow
//! that hands the CLI a one-time code on its loopback callback, and the
//! token endpoint that trades the code (and the CLI's PKCE verifier) for
//! credentials.

use super::*;

impl Ctx<'_> {
    /// `GET /_s3gate/cli?port=…&state=…&challenge=…`: asks the signed-in
    /// person to let the CLI on this computer in.
    pub(super) fn cli_confirm(&self, req: &Request<RequestBody>) -> Response<GatewayBody> {
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
    pub(super) async fn cli_approve(&self, req: Request<RequestBody>) -> Response<GatewayBody> {
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
        let sealed =
            self.gateway
                .keyring
                .current()
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
    pub(super) async fn cli_token(&self, req: Request<RequestBody>) -> Response<GatewayBody> {
        let mut record = match self.record("CliToken", req.headers()).await {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        let form = read_form(req).await;
        let code: Option<CliCode> = form_value(&form, "code").and_then(|c| {
            self.gateway
                .keyring
                .current()
                .open_web(Purpose::CliCode, &c, self.now)
                .ok()
        });
        let verifier = form_value(&form, "code_verifier").unwrap_or_default();
        let mut refused = match &code {
            None => Some("the code is not valid or has expired"),
            Some(c) if !login::pkce_matches(&verifier, &c.challenge) => {
                Some("the code verifier does not match")
            }
            _ => None,
        };
        // Claimed last, so only a code that would be honoured is spent;
        // claimed across instances, so a replay to another is refused.
        if let (Some(c), None) = (&code, refused) {
            match self.gateway.shared.claim_code(&c.id, c.exp).await {
                Ok(true) => {}
                Ok(false) => refused = Some("the code was already used"),
                Err(e) => return shared_unavailable(record, "CLI sign-in", &e),
            }
        }
        let (Some(code), None) = (code, refused) else {
            let why = refused.unwrap_or("refused");
            record.deny("InvalidToken", why);
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", why, record);
        };
        self.credentials_json(&code.identity, code.session_exp, record, "CLI signed in")
    }

    /// Credentials as `credential_process` JSON, audited.
    pub(super) fn credentials_json(
        &self,
        identity: &Identity,
        session_exp: u64,
        mut record: Record,
        what: &str,
    ) -> Response<GatewayBody> {
        match self.issue(identity, session_exp, &mut record) {
            Ok(creds) => {
                let expiration = rfc3339(creds.expires_at);
                record.event.reason = format!("{what}: credentials until {expiration}").into();
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
