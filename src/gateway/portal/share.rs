//! `POST /_s3gate/share`: the portal's "Share a link". A signed-in person
//! names an object they may read; s3gate mints a session for them scoped to
//! reading that one object, as long as the link (never past their sign-in),
//! and answers a presigned GET URL for it (built by
//! [`crate::login::share`]). The link is audited by object and lifetime;
//! the URL itself (it carries a signature) never is.

use super::*;
use crate::login::share::{self, LinkMethod, Signer};
use crate::s3::Action;

/// The lifetimes the portal offers, and the default.
const DEFAULT_LINK: Duration = Duration::from_secs(3600);

/// Why no link was made: the page's status, the audit line's error code,
/// and what the person reads.
type Refusal = (StatusCode, &'static str, String);

impl Ctx<'_> {
    pub(super) async fn share(&self, req: Request<RequestBody>) -> Response<GatewayBody> {
        let (mut record, session, form) = match self
            .acting_post(
                req,
                "ShareLink",
                "Sign in on the portal, then share a link from there.",
            )
            .await
        {
            Ok(acting) => acting,
            Err(resp) => return resp,
        };
        match self.link_page(&session, &form, &mut record) {
            Ok(body) => html(
                StatusCode::OK,
                body,
                &self.nonce,
                Some(record.finish(StatusCode::OK)),
            ),
            Err((status, code, why)) => {
                record.deny(code, why.clone());
                self.page(status, "Cannot share", &why, Some(record))
            }
        }
    }

    /// The page with the link, or why there is none.
    fn link_page(
        &self,
        session: &BrowserSession,
        form: &[(String, String)],
        record: &mut Record,
    ) -> Result<String, Refusal> {
        let object = form_value(form, "object").unwrap_or_default();
        let expires = form_value(form, "expires")
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(DEFAULT_LINK, Duration::from_secs);
        let (bucket, key) = share::parse_object(object.trim())
            .map_err(|why| (StatusCode::BAD_REQUEST, "InvalidArgument", why))?;
        record.event.bucket = Some(bucket.into());
        record.event.key = Some(key.into());
        record.event.set_identity(&session.identity);
        // A link from someone who may not read the object would only fail:
        // say so now, with the policy's reason.
        let resource = format!("s3://{bucket}/{key}");
        let policy = self.gateway.policy.current();
        let caller = self.caller(&session.identity);
        let decision = policy.decide(&caller, &[(Action::GetObject, resource.clone())]);
        record.event.policy_version = Some(policy.shared_version());
        record.event.rule = Some(decision.rule_label().into());
        if !decision.allowed {
            return Err((
                StatusCode::FORBIDDEN,
                "AccessDenied",
                format!(
                    "You may not read {resource} ({}), so a link from you would not work.",
                    decision.why()
                ),
            ));
        }
        let scope = Scope::parse(&[format!("s3:GetObject={resource}")]).map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                format!("Cannot share {resource}: {e}"),
            )
        })?;
        let ttl = expires.min(share::MAX_PRESIGN);
        // Sessions end on a whole second: one more keeps a link asked for
        // N seconds at N (it still never outlives the session).
        let session_ttl = ttl + Duration::from_secs(1);
        let creds = self
            .issue_scoped(&session.identity, session.exp, session_ttl, scope, record)
            .map_err(|(status, text)| {
                (status, record.event.error.unwrap_or("AccessDenied"), text)
            })?;
        let signer = Signer {
            access_key_id: &creds.access_key_id,
            secret_access_key: creds.secret_access_key.expose(),
            session_token: &creds.session_token,
            expires_at: Some(creds.expires_at),
        };
        let link = share::presign(
            self.rp.config().s3_endpoint(),
            LinkMethod::Get,
            bucket,
            key,
            ttl,
            self.gateway.upstreams.region_for(Some(bucket)),
            &signer,
            self.now,
        )
        .map_err(|why| (StatusCode::INTERNAL_SERVER_ERROR, "InternalError", why))?;
        let valid = share::humanize(link.life.valid_for);
        let note = (link.life.valid_for < expires).then(|| {
            format!(
                "You asked for {}; the link works for {valid}, until your sign-in ends.",
                share::humanize(expires)
            )
        });
        record.event.reason = format!("shared s3:GetObject on {resource} for {valid}").into();
        Ok(page::shared_link(
            &resource,
            &link.url,
            &valid,
            note.as_deref(),
            &self.nonce,
        ))
    }
}
