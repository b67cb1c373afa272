//! The first start's `default` org and project and its administrator, and
//! this node's id.

use crate::config::ServeConfig;
use crate::iam::builtin;
use crate::iam::tokens;
use crate::store::Store;
use crate::store::iam::Created;
use crate::util::hash_token;
use anyhow::Context;

/// On the first start: the `default` project, and the first user of the
/// `default` org, `admin`, bound to the platform Administrator role. Its API
/// key is printed once and written to `<data-dir>/admin-token`, its password
/// to `<data-dir>/admin-password` (both mode 0600); only hashes are stored.
///
/// A foundation-era installation (tokens, no users) gets the same user,
/// and its old tokens keep working as that user.
pub(super) async fn bootstrap(store: &Store, config: &ServeConfig) -> anyhow::Result<()> {
    store.ensure_project("default").await?;
    if store.has_users().await? {
        return Ok(());
    }
    let org = store
        .org("default")
        .await?
        .context("the default org is missing: the migrations did not run")?;
    let scope = store.in_org(&org);
    let password = tokens::random_secret();
    let hash = tokens::hash_password(&password).map_err(|e| anyhow::anyhow!(e))?;
    let Created::New(admin) = scope
        .create_user(builtin::ADMIN_USER, Some(&hash), Default::default())
        .await?
    else {
        // Another node bootstrapped at the same moment.
        return Ok(());
    };
    let role = builtin::role_id(builtin::ADMINISTRATOR);
    scope.bind("user", &admin.id, &role, "").await?;
    let legacy = store.has_tokens().await?;
    let secret = tokens::random_secret();
    let key = scope
        .create_api_key(&admin.id, "bootstrap", &hash_token(&secret), None)
        .await?;
    let token = tokens::api_key_token(&key.id, &secret);
    let dir = &config.data_dir;
    let password_path = dir.join("admin-password");
    crate::util::write_private(&password_path, &password)
        .with_context(|| format!("cannot write {}", password_path.display()))?;
    if legacy {
        // Scripts hold the old token, which still works: keep its file.
        println!(
            "user admin of org default created; password in {}",
            password_path.display()
        );
        return Ok(());
    }
    let path = dir.join("admin-token");
    crate::util::write_private(&path, &token).with_context(|| format!("cannot write {}", path.display()))?;
    println!("admin API key (shown once; also in {}): {token}", path.display());
    println!(
        "admin password for /api/v1/auth/login (org default, user admin; also in {}): {password}",
        password_path.display()
    );
    Ok(())
}

/// This node's id, kept in the data folder so that a restarted node takes
/// back the event deliveries it held at once (another node would wait for
/// their leases to run out).
pub(super) fn node_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        Ok(_) | Err(_) => {
            let id = format!("node-{}", crate::util::new_id());
            crate::util::write_private(&path, &id)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(id)
        }
    }
}
