//! The principal a credential names: an API key, an access token (JWT) or
//! a foundation-era token.

use super::unauthenticated;
use crate::http::AppState;
use crate::http::api::error::ApiResult;
use crate::iam::builtin::ADMIN_USER;
use crate::iam::tokens::{self, Credential, TokenError};
use crate::iam::{Principal, PrincipalKind};
use crate::store::iam::User;
use crate::store::orgs::Org;
use crate::store::projects::DEFAULT_ORG_ID;
use crate::util::{hash_token, now_ms};

pub(super) async fn principal(state: &AppState, token: &str) -> ApiResult<Principal> {
    match tokens::parse(token) {
        Credential::ApiKey { id, secret } => {
            let Some((key, user, org)) = state.store.live_api_key(id).await? else {
                return Err(unauthenticated("the API key is unknown, revoked or expired"));
            };
            if !tokens::secret_matches(secret, &key.secret_hash) {
                return Err(unauthenticated("the API key is unknown, revoked or expired"));
            }
            let now = now_ms();
            if key.last_used_ms.is_none_or(|t| now - t > 60_000) {
                let store = state.store.clone();
                let id = key.id.clone();
                tokio::spawn(async move {
                    if let Err(e) = store.touch_api_key(&id, now).await {
                        tracing::warn!(error = %e, "cannot record an API key's last use");
                    }
                });
            }
            Ok(Principal {
                kind: PrincipalKind::ApiKey,
                id: key.id,
                user_id: user.id,
                user_name: user.name,
                tags: user.tags,
                org,
            })
        }
        Credential::Jwt(jwt) => {
            let claims = state.tokens.verify(jwt).await.map_err(|e| match e {
                TokenError::Invalid(m) => unauthenticated(format!("the access token is not valid: {m}")),
                TokenError::Store(e) => e.into(),
            })?;
            user_principal(state, &claims.org, &claims.sub).await
        }
        Credential::Legacy(t) => {
            if !state.store.token_exists(&hash_token(t)).await? {
                return Err(unauthenticated("the token is not valid"));
            }
            // A foundation-era token acts as the bootstrap admin.
            let org = state
                .store
                .org_by_id(DEFAULT_ORG_ID)
                .await?
                .ok_or_else(|| unauthenticated("the token is not valid"))?;
            let user = state
                .store
                .in_org(&org)
                .user(ADMIN_USER)
                .await?
                .ok_or_else(|| unauthenticated("the token is not valid"))?;
            Ok(signed_in(org, user))
        }
    }
}

pub(super) async fn user_principal(state: &AppState, org_id: &str, user_id: &str) -> ApiResult<Principal> {
    let gone = || unauthenticated("the user or org of this token no longer exists");
    let org = state.store.org_by_id(org_id).await?.ok_or_else(gone)?;
    let user = state
        .store
        .in_org(&org)
        .user_by_id(user_id)
        .await?
        .ok_or_else(gone)?;
    Ok(signed_in(org, user))
}

/// `user` of `org`, acting as themself (not through an API key).
fn signed_in(org: Org, user: User) -> Principal {
    Principal {
        kind: PrincipalKind::User,
        id: user.id.clone(),
        user_id: user.id,
        user_name: user.name,
        tags: user.tags,
        org,
    }
}
