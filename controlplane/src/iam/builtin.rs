//! Built-in managed policies, and the built-in roles that carry them: the
//! four tiers people expect, plus the platform administrator that the
//! first start creates.
//!
//! They refer to the caller's org through `${mc:PrincipalOrg}` and to the
//! resource's project through `${mc:project}`, so one document serves every
//! org and project; a binding's scope (org or project) decides where a role
//! applies at all.

use minicloud_policy::Policy;
use serde_json::json;
use std::sync::{Arc, LazyLock};

/// A role id that names a built-in role.
pub const PREFIX: &str = "builtin:";

/// The role of the platform's operator: everything, in every org. Only the
/// first start binds it.
pub const ADMINISTRATOR: &str = "Administrator";

/// `(name, document)` of every built-in policy; each is also a role.
static BUILTIN: LazyLock<Vec<(&'static str, Arc<Policy>)>> = LazyLock::new(|| {
    let docs = [
        (
            ADMINISTRATOR,
            json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"}
            ]}),
        ),
        (
            "OrgAdmin",
            json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "AllInOrg", "Effect": "Allow", "Action": "*", "Resource": "mrn:*:${mc:PrincipalOrg}:*"}
            ]}),
        ),
        (
            "ProjectAdmin",
            json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "AllInProject", "Effect": "Allow", "Action": "*",
                 "Resource": "mrn:*:${mc:PrincipalOrg}:${mc:project}:*"},
                {"Sid": "NoProjectDelete", "Effect": "Deny", "Action": "orgs:DeleteProject", "Resource": "*"}
            ]}),
        ),
        (
            "Developer",
            json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "Functions", "Effect": "Allow", "Action": "functions:*",
                 "Resource": "mrn:functions:${mc:PrincipalOrg}:${mc:project}:*"},
                {"Sid": "Storage", "Effect": "Allow", "Action": "storage:*",
                 "Resource": "mrn:storage:${mc:PrincipalOrg}:${mc:project}:*"},
                {"Sid": "Events", "Effect": "Allow", "Action": "events:*",
                 "Resource": "mrn:events:${mc:PrincipalOrg}:${mc:project}:*"},
                {"Sid": "Workflows", "Effect": "Allow", "Action": "workflows:*",
                 "Resource": "mrn:workflows:${mc:PrincipalOrg}:${mc:project}:*"},
                {"Sid": "SecretsButNotValues", "Effect": "Allow",
                 "Action": ["secrets:CreateSecret", "secrets:ListSecrets", "secrets:DescribeSecret",
                            "secrets:PutSecretValue", "secrets:DeleteSecretVersion", "secrets:DeleteSecret"],
                 "Resource": "mrn:secrets:${mc:PrincipalOrg}:${mc:project}:*"},
                {"Sid": "SeeProject", "Effect": "Allow", "Action": ["orgs:GetProject", "orgs:GetOrg"],
                 "Resource": "mrn:orgs:${mc:PrincipalOrg}:*"},
                {"Sid": "Simulate", "Effect": "Allow", "Action": ["iam:SimulatePolicy", "events:TestEventPattern"],
                 "Resource": "*"}
            ]}),
        ),
        (
            "ReadOnly",
            json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "Read", "Effect": "Allow",
                 "Action": ["functions:Get*", "functions:List*", "orgs:Get*", "orgs:List*", "iam:Get*", "iam:List*",
                            "storage:Get*", "storage:List*", "secrets:List*", "secrets:Describe*",
                            "events:Describe*", "events:List*",
                            "workflows:Get*", "workflows:List*", "workflows:Describe*"],
                 "Resource": "mrn:*:${mc:PrincipalOrg}:*"}
            ]}),
        ),
    ];
    docs.into_iter()
        .map(|(name, doc)| {
            let policy = Policy::from_value(&doc).unwrap_or_else(|e| panic!("built-in policy {name}: {e}"));
            (name, Arc::new(policy))
        })
        .collect()
});

/// A built-in policy by name.
pub fn policy(name: &str) -> Option<Arc<Policy>> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, p)| p.clone())
}

/// Names of the built-in policies (and roles).
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(n, _)| *n)
}

/// The role id that names a built-in role.
pub fn role_id(name: &str) -> String {
    format!("{PREFIX}{name}")
}

/// The built-in role a role id names, if it names one.
pub fn role(role_id: &str) -> Option<&'static str> {
    let name = role_id.strip_prefix(PREFIX)?;
    names().find(|n| *n == name)
}

/// The name of the user the first start creates in the `default` org.
pub const ADMIN_USER: &str = "admin";

#[cfg(test)]
mod tests {
    #[test]
    fn every_builtin_parses() {
        assert_eq!(super::names().count(), 5);
        for name in super::names() {
            assert!(super::policy(name).is_some());
            assert_eq!(super::role(&format!("builtin:{name}")), Some(name));
        }
        assert_eq!(super::role("builtin:Nope"), None);
    }
}
