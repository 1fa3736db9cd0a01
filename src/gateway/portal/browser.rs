//! The browser's pages: the portal (who you are, what you may do, fresh
//! credentials), the sign-in that starts the OIDC code flow, the callback
//! that ends it, and sign-out.

use super::*;

impl Ctx<'_> {
    /// What the policy grants `identity` now from this client, and the
    /// denies that still refuse, as the pages show them.
    pub(super) fn reach(&self, identity: &Identity) -> (Vec<GrantRow>, Vec<GrantRow>) {
        let policy = self.gateway.policy.current();
        let caller = self.caller(identity);
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
        (
            to_rows(policy.reach(&caller)),
            to_rows(policy.denies_for(&caller)),
        )
    }

    /// `GET /_s3gate/`: who you are, what you may reach, and fresh
    /// credentials.
    pub(super) async fn portal(&self, req: &Request<RequestBody>) -> Response<GatewayBody> {
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
        let (grants, denies) = self.reach(&session.identity);
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
            s3_endpoint: self.rp.config().s3_endpoint(),
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
        )
        .into();
        html(
            StatusCode::OK,
            body,
            &self.nonce,
            Some(record.finish(StatusCode::OK)),
        )
    }

    /// Mints credentials for a signed-in person, never past `session_exp`,
    /// and refuses an identity that has been revoked.
    pub(super) fn issue(
        &self,
        identity: &Identity,
        session_exp: u64,
        record: &mut Record,
    ) -> Result<SessionCredentials, (StatusCode, String)> {
        let ttl = self.rp.config().credentials_ttl;
        self.issue_scoped(identity, session_exp, ttl, Scope::all(), record)
    }

    /// [`Self::issue`] for `ttl` at most and `scope` only (a shared
    /// link's session: one object, as long as the link).
    pub(super) fn issue_scoped(
        &self,
        identity: &Identity,
        session_exp: u64,
        ttl: Duration,
        scope: Scope,
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
        let ttl = ttl.min(Duration::from_secs(left));
        let keyring = self.gateway.keyring.current();
        let creds = keyring
            .mint(
                identity.clone(),
                scope,
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
        record.event.who.session_id = Some(creds.session_id.clone());
        record.event.who.access_key_id = Some(creds.access_key_id.clone());
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
    pub(super) async fn login(&self, req: &Request<RequestBody>) -> Response<GatewayBody> {
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
                .current()
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
    pub(super) async fn callback(&self, req: &Request<RequestBody>) -> Response<GatewayBody> {
        let mut record = match self.record("Login", req.headers()).await {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        let restart = "Start again from the s3gate page.";
        let state: Option<LoginState> = cookie(req, LOGIN_COOKIE, self.secure()).and_then(|v| {
            self.gateway
                .keyring
                .current()
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
        let Ok(sealed) = self.gateway.keyring.current().seal_web(
            Purpose::BrowserSession,
            &session,
            &mut rand::rng(),
        ) else {
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
    pub(super) fn logout(&self) -> Response<GatewayBody> {
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
}
