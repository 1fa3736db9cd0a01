//! The device flow: a short code started by `s3gate login --device`,
//! approved by a signed-in person in any browser, polled for by the CLI.

use super::*;

impl Ctx<'_> {
    /// `POST /_s3gate/device/start`: a device code for a terminal without a
    /// browser (RFC 8628's shape).
    pub(super) fn device_start(&self, req: &Request<RequestBody>) -> Response<GatewayBody> {
        let user_code = login::new_user_code(&mut rand::rng());
        // Shown to whoever is asked to approve the code, so they can tell
        // their own terminal's request from someone else's.
        self.gateway.device_requests.record(
            &user_code,
            login::device::DeviceRequest {
                requested_at: unix(self.now),
                client: self.source,
                user_agent: req.headers().get(header::USER_AGENT).map(|v| {
                    String::from_utf8_lossy(v.as_bytes())
                        .chars()
                        .take(login::device::MAX_USER_AGENT)
                        .collect()
                }),
            },
        );
        let code = DeviceCode {
            user_code: user_code.clone(),
            exp: unix(self.now) + login::DEVICE_CODE_TTL,
        };
        let Ok(device_code) =
            self.gateway
                .keyring
                .current()
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
                "expires_in": login::DEVICE_CODE_TTL,
                "interval": login::DEVICE_POLL_INTERVAL,
            }),
            None,
        )
    }

    /// `GET /_s3gate/device`: the form to type a terminal's code into.
    pub(super) fn device_page(&self, req: &Request<RequestBody>) -> Response<GatewayBody> {
        let Some(session) = self.browser(req) else {
            return self.to_login(req);
        };
        // Never filled in from the link: a phisher who started a device
        // sign-in could send its code in one, and a person who clicks
        // Sign in would sign the phisher's terminal in.
        html(
            StatusCode::OK,
            page::device_form(&principal_name(&session.identity), "", None, &self.nonce),
            &self.nonce,
            None,
        )
    }

    /// `POST /_s3gate/device` (`user_code`): first the page that shows what
    /// is being approved; with `confirm=1` (its button), the signed-in
    /// person approves the terminal showing that code.
    pub(super) async fn device_approve(&self, req: Request<RequestBody>) -> Response<GatewayBody> {
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
        if form_value(&form, "confirm").as_deref() != Some("1") {
            record.event.operation = Some("DeviceConfirm");
            record.allow(
                &session.identity,
                format!("device code {user_code} shown for approval"),
            );
            return html(
                StatusCode::OK,
                self.device_confirm_page(&principal, &user_code, &session),
                &self.nonce,
                Some(record.finish(StatusCode::OK)),
            );
        }
        let approval = crate::shared::Approval {
            identity: session.identity.clone(),
            session_exp: session.exp,
        };
        let expires_at = unix(self.now) + login::DEVICE_CODE_TTL;
        let recorded = self
            .gateway
            .shared
            .put_approval(&user_code, &approval, expires_at)
            .await;
        if let Ok(false) = recorded {
            record.deny("AccessDenied", "the device code was already approved");
            return self.page(
                StatusCode::CONFLICT,
                "Already approved",
                "This code was already approved, and the first approval stands. \
                 If it was not you who approved it, do not use that terminal, and \
                 tell your administrator.",
                Some(record),
            );
        }
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "device approval not recorded");
            record.deny(
                "ServiceUnavailable",
                "the shared state store is unavailable",
            );
            return self.page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Device sign-in unavailable",
                "s3gate cannot record the approval right now: device sign-in is \
                 unavailable. Try again in a minute.",
                Some(record),
            );
        }
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

    /// The approval page for `user_code`: when and from where it was asked
    /// for (when this instance handed it out), and what the policy lets
    /// the person, and so the device, do now.
    fn device_confirm_page(
        &self,
        principal: &str,
        user_code: &str,
        session: &BrowserSession,
    ) -> String {
        let request = self.gateway.device_requests.get(user_code);
        let requested = request.as_ref().map(|r| {
            (
                rfc3339(UNIX_EPOCH + Duration::from_secs(r.requested_at)),
                unix(self.now).saturating_sub(r.requested_at) / 60,
            )
        });
        let client = request.as_ref().map(|r| r.client.to_string());
        let until = rfc3339(UNIX_EPOCH + Duration::from_secs(session.exp));
        let (grants, denies) = self.reach(&session.identity);
        page::device_confirm(
            &page::DeviceView {
                principal,
                user_code,
                requested: requested.as_ref().map(|(at, ago)| (at.as_str(), *ago)),
                client: client.as_deref(),
                user_agent: request.as_ref().and_then(|r| r.user_agent.as_deref()),
                until: &until,
                grants: &grants,
                denies: &denies,
            },
            &self.nonce,
        )
    }

    /// `POST /_s3gate/device/token` (`device_code`): the terminal polls.
    /// Waiting is not audited; the outcome is.
    pub(super) async fn device_token(&self, req: Request<RequestBody>) -> Response<GatewayBody> {
        let headers = req.headers().clone();
        let form = read_form(req).await;
        let code = form_value(&form, "device_code").map(|c| {
            self.gateway
                .keyring
                .current()
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
        let taken = self
            .gateway
            .shared
            .take_approval(&code.user_code, unix(self.now))
            .await;
        let approval = match taken {
            Ok(a) => a,
            Err(e) => {
                return match self.record("DeviceToken", &headers).await {
                    Ok(record) => shared_unavailable(record, "device sign-in", &e),
                    Err(resp) => resp,
                };
            }
        };
        let Some(approval) = approval else {
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
