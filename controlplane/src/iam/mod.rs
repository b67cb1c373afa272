//! Who is calling, and may they: principals, the authorizer that judges
//! every API action with the policy engine, built-in roles, credentials,
//! and per-principal rate limits.
//!
//! - [`actions`]: the action name of every endpoint.
//! - [`builtin`]: OrgAdmin, ProjectAdmin, Developer, ReadOnly (and the
//!   platform Administrator).
//! - [`tokens`]: API keys, passwords, access tokens and their keys.
//! - [`limits`]: token buckets per principal.
//! - `principal`: who calls and on what ([`Caller`], [`Principal`],
//!   [`Target`]).
//! - `cache`: compiled grants and role policies kept for a few seconds.

pub mod actions;
pub mod builtin;
mod cache;
pub mod limits;
mod principal;
pub mod tokens;

use crate::store::Store;
use crate::store::iam::Binding;
use crate::store::orgs::Org;
use cache::TtlCache;
use minicloud_policy::{Context, Decision, Explanation, Policy, Request, evaluate, explain};
pub use principal::{Caller, Principal, PrincipalKind, Target};
use std::sync::Arc;
use std::time::Duration;

/// Why an action was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    /// The policies do not allow it.
    #[error("{0}")]
    Denied(String),
    /// The store failed while loading policies.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The policies one binding brings, and where they apply.
#[derive(Debug)]
struct Grant {
    /// Applies in every org (the platform Administrator).
    everywhere: bool,
    /// Applies only to this project's resources; empty: the whole org.
    project_id: String,
    policies: Vec<(String, Arc<Policy>)>,
}

/// A role's policies by name, compiled.
pub type RolePolicies = Vec<(String, Arc<Policy>)>;

/// How long a principal's compiled policies are trusted before a reload
/// (changes on this node invalidate at once; this bounds other nodes).
const GRANTS_TTL: Duration = Duration::from_secs(5);

/// Judges actions with the policy engine, caching each principal's
/// compiled policies.
pub struct Authorizer {
    store: Store,
    /// Each principal's compiled grants, by its org's id and (kind, id).
    grants: TtlCache<(PrincipalKind, String), Arc<Vec<Grant>>>,
    /// Each role's compiled policies by org id and role name; `None`: no
    /// such role.
    roles: TtlCache<String, Option<RolePolicies>>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer").finish_non_exhaustive()
    }
}

impl Authorizer {
    /// An authorizer over the store's bindings and policies.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            grants: TtlCache::new(GRANTS_TTL),
            roles: TtlCache::new(GRANTS_TTL),
        }
    }

    /// Forgets the compiled grants of an org's principals and its roles'
    /// policies: call after any change to that org's IAM. A principal's
    /// grants come from its own org's bindings, roles and policies alone
    /// (the built-in roles never change), so other orgs' stay compiled:
    /// one tenant's IAM writes do not send every other tenant's requests
    /// to the database for their grants.
    pub fn invalidate_org(&self, org_id: &str) {
        self.grants.clear_org(org_id);
        self.roles.clear_org(org_id);
    }

    /// Allows `action` on `target` for `caller`, or says why not.
    pub async fn check(&self, caller: &Caller, action: &str, target: &Target) -> Result<(), AuthzError> {
        self.check_with(caller, action, target, &[]).await
    }

    /// As [`Authorizer::check`], with request condition keys (such as
    /// `mc:RequestTag/<key>`) added.
    pub async fn check_with(
        &self,
        caller: &Caller,
        action: &str,
        target: &Target,
        extra: &[(String, Vec<String>)],
    ) -> Result<(), AuthzError> {
        // The decision alone: stops at the first deny, records no reasons.
        let decision = self
            .judge(caller, action, target, extra, |policies, req| {
                evaluate(policies, req)
            })
            .await?;
        let p = &caller.principal;
        let who = format!("{} {:?}", p.kind.as_str().replace('_', " "), p.user_name);
        // Another org's resource names (its org, its tags, its layout) are
        // not the caller's to learn from a refusal.
        let resource = if target.org_id.is_empty() || target.org_id == p.org.id {
            target.mrn.to_string()
        } else {
            format!("a resource outside org {:?}", p.org.name)
        };
        match decision {
            Decision::Allow(_) => Ok(()),
            Decision::ExplicitDeny(r) => Err(AuthzError::Denied(format!(
                "{who} may not {action} on {resource}: denied by policy {:?}, statement {:?}",
                r.policy, r.statement
            ))),
            Decision::ImplicitDeny => Err(AuthzError::Denied(format!(
                "{who} may not {action} on {resource}: no policy allows it"
            ))),
        }
    }

    /// The decision with every statement behind it, with `extra` condition
    /// keys set over the ones the platform fills in (for the simulator).
    pub async fn explain(
        &self,
        caller: &Caller,
        action: &str,
        target: &Target,
        extra: &[(String, Vec<String>)],
    ) -> Result<Explanation, AuthzError> {
        self.judge(caller, action, target, extra, |policies, req| {
            explain(policies, req)
        })
        .await
    }

    /// Runs `decide` over the policies of the caller's grants that apply to
    /// the target, with the platform's condition keys and `extra` ones.
    async fn judge<R>(
        &self,
        caller: &Caller,
        action: &str,
        target: &Target,
        extra: &[(String, Vec<String>)],
        decide: impl for<'p> FnOnce(Vec<(&'p str, &'p Policy)>, &Request<'_>) -> R,
    ) -> Result<R, AuthzError> {
        let grants = self.grants(&caller.principal).await?;
        let p = &caller.principal;
        let applicable = grants.iter().filter(|g| {
            g.everywhere
                || (target.org_id == p.org.id
                    && (g.project_id.is_empty()
                        || target.project_id.as_deref() == Some(g.project_id.as_str())))
        });
        let policies: Vec<(&str, &Policy)> = applicable
            .flat_map(|g| g.policies.iter().map(|(n, p)| (n.as_str(), p.as_ref())))
            .collect();
        let mut context = context(caller, target);
        for (key, values) in extra {
            context = context.with_many(key, values.iter().cloned());
        }
        let resource = target.mrn.to_string();
        Ok(decide(
            policies,
            &Request {
                action,
                resource: &resource,
                context: &context,
            },
        ))
    }

    async fn grants(&self, p: &Principal) -> Result<Arc<Vec<Grant>>, AuthzError> {
        let key = (p.kind, p.id.clone());
        if let Some(grants) = self.grants.get(&p.org.id, &key) {
            return Ok(grants);
        }
        let generation = self.grants.generation(&p.org.id);
        let scope = self.store.in_org(&p.org);
        // A key with bindings of its own is limited to them; a key without
        // acts with its user's roles.
        let mut bindings = scope.bindings_of(p.kind.as_str(), &p.id).await?;
        if bindings.is_empty() && p.kind == PrincipalKind::ApiKey {
            bindings = scope
                .bindings_of(PrincipalKind::User.as_str(), &p.user_id)
                .await?;
        }
        let mut grants = Vec::with_capacity(bindings.len());
        for b in &bindings {
            grants.push(self.grant(&scope, b).await?);
        }
        let grants = Arc::new(grants);
        self.grants.put(&p.org.id, key, grants.clone(), generation);
        Ok(grants)
    }

    async fn grant(&self, scope: &crate::store::iam::OrgScope, b: &Binding) -> Result<Grant, AuthzError> {
        if let Some(name) = builtin::role(&b.role_id) {
            return Ok(Grant {
                everywhere: name == builtin::ADMINISTRATOR,
                project_id: b.project_id.clone(),
                policies: builtin::policy(name)
                    .map(|p| vec![(name.to_owned(), p)])
                    .unwrap_or_default(),
            });
        }
        Ok(Grant {
            everywhere: false,
            project_id: b.project_id.clone(),
            policies: self.policies_of_role(scope, &b.role_id).await?,
        })
    }

    /// The policies of an org's role by name (a function's or a
    /// workflow's execution role); `None` when there is no such role.
    pub async fn role_policies(&self, org: &Org, role: &str) -> Result<Option<RolePolicies>, AuthzError> {
        let key = role.to_owned();
        if let Some(policies) = self.roles.get(&org.id, &key) {
            return Ok(policies);
        }
        let generation = self.roles.generation(&org.id);
        let scope = self.store.in_org(org);
        let policies = match scope.role(role).await? {
            Some(r) => Some(self.policies_of_role(&scope, &r.id).await?),
            None => None,
        };
        self.roles.put(&org.id, key, policies.clone(), generation);
        Ok(policies)
    }

    async fn policies_of_role(
        &self,
        scope: &crate::store::iam::OrgScope,
        role_id: &str,
    ) -> Result<RolePolicies, AuthzError> {
        let mut policies = Vec::new();
        for (name, document) in scope.role_policies(role_id).await? {
            let policy = match document {
                Some(doc) => match serde_json::from_str(&doc)
                    .ok()
                    .and_then(|v| Policy::from_value(&v).ok())
                {
                    Some(p) => Arc::new(p),
                    // Stored documents were validated when written.
                    None => continue,
                },
                None => match builtin::policy(&name) {
                    Some(p) if name != builtin::ADMINISTRATOR => p,
                    _ => continue,
                },
            };
            policies.push((name, policy));
        }
        Ok(policies)
    }
}

/// The condition keys of a request that sets tags: `mc:RequestTag/<key>`
/// for each, and `mc:TagKeys` listing the keys.
pub fn request_tags(tags: &crate::store::iam::Tags) -> Vec<(String, Vec<String>)> {
    let mut keys: Vec<(String, Vec<String>)> = tags
        .iter()
        .map(|(k, v)| (format!("mc:RequestTag/{k}"), vec![v.clone()]))
        .collect();
    keys.push(("mc:TagKeys".into(), tags.keys().cloned().collect()));
    keys
}

/// The condition keys the platform fills in for every request.
fn context(caller: &Caller, target: &Target) -> Context {
    let p = &caller.principal;
    let now = chrono::Utc::now();
    let mut c = Context::new()
        .with("mc:PrincipalOrg", p.org.name.clone())
        .with(
            "mc:PrincipalType",
            match p.kind {
                PrincipalKind::User => "User",
                PrincipalKind::ApiKey => "ApiKey",
            },
        )
        .with("mc:PrincipalId", p.id.clone())
        .with("mc:userid", p.user_id.clone())
        .with("mc:username", p.user_name.clone())
        .with(
            "mc:CurrentTime",
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
        .with("mc:EpochTime", now.timestamp().to_string())
        // The platform serves plain HTTP; TLS ends in front of it.
        .with("mc:SecureTransport", "false")
        .with("mc:UserAgent", caller.user_agent.clone());
    for (k, v) in &p.tags {
        c.set(&format!("mc:PrincipalTag/{k}"), v.clone());
    }
    for (k, v) in &target.tags {
        c.set(&format!("mc:ResourceTag/{k}"), v.clone());
    }
    if let Some(ip) = caller.source_ip {
        c.set("mc:SourceIp", ip.to_string());
    }
    if !target.mrn.org_name().is_empty() {
        c.set("mc:org", target.mrn.org_name().to_owned());
    }
    if !target.mrn.project_name().is_empty() {
        c.set("mc:project", target.mrn.project_name().to_owned());
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An org's IAM change forgets that org's compiled grants and roles,
    /// and only those: a tenant writing IAM in a loop must not send every
    /// other tenant's requests to the database for their grants.
    #[tokio::test]
    async fn an_orgs_change_forgets_its_own_grants_only() {
        let (store, _dir) = crate::store::tests::temporary_sqlite().await;
        let authorizer = Authorizer::new(store.clone());
        let mut principals = Vec::new();
        for name in ["ours", "theirs"] {
            let org = store.create_org(name).await.expect("an org");
            let principal = Principal {
                kind: PrincipalKind::User,
                id: format!("u-{name}"),
                user_id: format!("u-{name}"),
                user_name: name.into(),
                org: org.clone(),
                tags: Default::default(),
            };
            authorizer.grants(&principal).await.expect("grants");
            authorizer
                .role_policies(&org, "runner")
                .await
                .expect("a role, or none");
            principals.push(principal);
        }
        let cached = |p: &Principal| {
            let grants = (p.kind, p.id.clone());
            (
                authorizer.grants.get(&p.org.id, &grants).is_some(),
                authorizer.roles.get(&p.org.id, &"runner".to_owned()).is_some(),
            )
        };
        let (ours, theirs) = (&principals[0], &principals[1]);
        assert_eq!(
            (cached(ours), cached(theirs)),
            ((true, true), (true, true)),
            "compiled once loaded"
        );
        authorizer.invalidate_org(&theirs.org.id);
        assert_eq!(
            (cached(ours), cached(theirs)),
            ((true, true), (false, false)),
            "theirs forgotten, ours kept"
        );
    }
}
