//! `wasi:config/store`: the function's own plain settings (set with the
//! API). They are the function's, so reading them needs no grant; secrets
//! are kept apart.

use super::bindings::config;
use crate::state::InstanceState;

impl config::Host for InstanceState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, config::Error>> {
        let settings = &self.caps.caps.config;
        Ok(Ok(settings
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())))
    }

    async fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, config::Error>> {
        Ok(Ok(self.caps.caps.config.to_vec()))
    }
}
