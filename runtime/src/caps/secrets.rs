//! `minicloud:platform/secrets`: `secrets:GetSecretValue` on
//! `mrn:secrets:<org>:<project>:secret/<name>`.

use super::backend::SecretsBackend;
use super::bindings::{secrets, types};
use super::{CapError, check_name};
use crate::state::InstanceState;

impl secrets::Host for InstanceState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, types::Error>> {
        let run = async {
            check_name("secret", &name)?;
            self.caps
                .check("secrets", "secrets:GetSecretValue", &format!("secret/{name}"))?;
            let value = self.caps.backend::<dyn SecretsBackend>()?.reveal(&name).await?;
            self.caps.count_read(value.len() as u64)?;
            Ok::<_, CapError>(value)
        };
        Ok(run.await.map_err(Into::into))
    }
}
