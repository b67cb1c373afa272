//! `wasi:logging`: leveled lines into the invocation's logs, beside stdout
//! and stderr, under the same cap.

use super::bindings::logging;
use crate::logs::Level;
use crate::state::InstanceState;

impl logging::Host for InstanceState {
    async fn log(&mut self, level: logging::Level, context: String, message: String) -> wasmtime::Result<()> {
        let level = match level {
            logging::Level::Trace => Level::Trace,
            logging::Level::Debug => Level::Debug,
            logging::Level::Info => Level::Info,
            logging::Level::Warn => Level::Warn,
            logging::Level::Error => Level::Error,
            logging::Level::Critical => Level::Critical,
        };
        self.caps.logs.leveled(level, &context, &message);
        Ok(())
    }
}
