//! A function's grants: its execution role's policies, compiled once per
//! load, judged on every host call with the function as the principal.

use crate::iam::RolePolicies;
use minicloud_policy::{Context, Request, evaluate};
use minicloud_runtime::caps::backend::Grants;

/// The execution role's policies and the condition keys that hold for every
/// call of the function.
#[derive(Debug)]
pub struct RoleGrants {
    policies: RolePolicies,
    context: Context,
}

impl RoleGrants {
    /// Grants of `policies` for the function `function_id` of
    /// `org`/`project`. Condition keys: `mc:PrincipalOrg`,
    /// `mc:PrincipalType` (`Function`), `mc:PrincipalId`, `mc:org`,
    /// `mc:project`.
    pub fn new(policies: RolePolicies, org: &str, project: &str, function_id: &str) -> Self {
        Self::for_principal(policies, org, project, "Function", function_id)
    }

    /// Grants of `policies` for a principal of type `kind` (`Function`,
    /// `Workflow`) with id `id`, of `org`/`project`.
    pub fn for_principal(policies: RolePolicies, org: &str, project: &str, kind: &str, id: &str) -> Self {
        let context = Context::new()
            .with("mc:PrincipalOrg", org)
            .with("mc:PrincipalType", kind)
            .with("mc:PrincipalId", id)
            .with("mc:org", org)
            .with("mc:project", project);
        Self { policies, context }
    }
}

impl Grants for RoleGrants {
    fn allows(&self, action: &str, resource: &str) -> bool {
        let policies = self.policies.iter().map(|(n, p)| (n.as_str(), p.as_ref()));
        evaluate(
            policies,
            &Request {
                action,
                resource,
                context: &self.context,
            },
        )
        .is_allowed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minicloud_policy::Policy;
    use std::sync::Arc;

    fn grants(doc: serde_json::Value) -> RoleGrants {
        let policy = Policy::from_value(&doc).expect("valid policy");
        RoleGrants::new(vec![("p".into(), Arc::new(policy))], "acme", "shop", "f1")
    }

    #[test]
    fn allows_only_what_the_role_grants() {
        let g = grants(serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "storage:GetObject",
                 "Resource": "mrn:storage:${mc:org}:${mc:project}:bucket/raw/*"},
                {"Effect": "Deny", "Action": "storage:GetObject",
                 "Resource": "mrn:storage:*:*:bucket/raw/private/*"}
            ]
        }));
        assert!(g.allows("storage:GetObject", "mrn:storage:acme:shop:bucket/raw/a.png"));
        assert!(!g.allows("storage:GetObject", "mrn:storage:acme:shop:bucket/raw/private/x"));
        assert!(!g.allows("storage:PutObject", "mrn:storage:acme:shop:bucket/raw/a.png"));
        assert!(!g.allows("storage:GetObject", "mrn:storage:acme:other:bucket/raw/a.png"));
    }
}
