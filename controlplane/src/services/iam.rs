//! The IAM service: every change to users, keys, policies, roles and
//! bindings goes through it, and each one forgets the grants of its org
//! compiled from what was there before (principals' in the authorizer,
//! functions' execution roles in the loaded functions). A handler cannot
//! forget to: it has no other way to write. Other orgs' grants stay
//! compiled: no org's IAM can grant into another.
//!
//! Creations invalidate too: a role created under the name a function's
//! settings already give takes effect at once.

use super::functions::FunctionService;
use crate::iam::Authorizer;
use crate::store::Result;
use crate::store::iam::{ApiKey, Binding, Created, OrgScope, PolicyRow, Role, Tags, User};
use std::sync::Arc;

/// Changes to identities and permissions.
#[derive(Debug)]
pub struct IamService {
    authorizer: Arc<Authorizer>,
    functions: Arc<FunctionService>,
}

impl IamService {
    /// The service over the authorizer's cache and the functions' grants.
    pub fn new(authorizer: Arc<Authorizer>, functions: Arc<FunctionService>) -> Self {
        Self {
            authorizer,
            functions,
        }
    }

    /// The writes of one org.
    pub fn in_org<'a>(&'a self, scope: &'a OrgScope) -> OrgIam<'a> {
        OrgIam { scope, iam: self }
    }

    fn changed(&self, org_id: &str) {
        self.authorizer.invalidate_org(org_id);
        self.functions.roles_changed(org_id);
    }
}

/// Writes to one org's IAM; each forgets compiled grants once it is stored.
#[derive(Debug)]
pub struct OrgIam<'a> {
    scope: &'a OrgScope,
    iam: &'a IamService,
}

/// Each method stores through the org's scope, then forgets grants.
macro_rules! changes {
    ($( $(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $out:ty; )*) => {
        impl OrgIam<'_> {
            $(
                $(#[$doc])*
                pub async fn $name(&self, $($arg: $ty),*) -> Result<$out> {
                    let out = self.scope.$name($($arg),*).await?;
                    self.iam.changed(&self.scope.org_id);
                    Ok(out)
                }
            )*
        }
    };
}

changes! {
    /// Creates a user (`Taken` when the name is in use).
    fn create_user(name: &str, password_hash: Option<&str>, tags: Tags) -> Created<User>;
    /// Replaces a user's tags.
    fn set_user_tags(user_id: &str, tags: &Tags) -> ();
    /// Deletes a user, with its keys and bindings.
    fn delete_user(user: &User) -> ();
    /// Stores a new key of a user.
    fn create_api_key(user_id: &str, name: &str, secret_hash: &str, expires_ms: Option<i64>) -> ApiKey;
    /// Revokes a live key; `false` when there was none.
    fn revoke_api_key(user_id: &str, key_id: &str) -> bool;
    /// Creates a managed policy (`Taken` when the name is in use).
    fn create_policy(name: &str, document: &str) -> Created<PolicyRow>;
    /// Replaces a managed policy's document; `false` when there is none.
    fn update_policy(name: &str, document: &str) -> bool;
    /// Deletes a managed policy; `false` when there was none.
    fn delete_policy(name: &str) -> bool;
    /// Creates a role (`Taken` when the name is in use).
    fn create_role(name: &str) -> Created<Role>;
    /// Deletes a role with its attachments and bindings.
    fn delete_role(role: &Role) -> ();
    /// Attaches a managed policy to a role.
    fn attach_policy(role: &Role, policy_name: &str) -> ();
    /// Detaches a managed policy; `false` when it was not attached.
    fn detach_policy(role: &Role, policy_name: &str) -> bool;
    /// Sets an inline policy of a role.
    fn put_inline_policy(role: &Role, name: &str, document: &str) -> ();
    /// Deletes an inline policy; `false` when there was none.
    fn delete_inline_policy(role: &Role, name: &str) -> bool;
    /// Gives a principal a role in the org (`project_id` empty) or a project.
    fn bind(principal_type: &str, principal_id: &str, role_id: &str, project_id: &str) -> Binding;
    /// Removes a binding; `false` when there was none.
    fn unbind(id: &str) -> bool;
}
