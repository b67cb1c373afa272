//! Invoking the `minicloud:platform/handler` world: JSON text in, JSON text
//! out.

use crate::error::InvokeError;
use crate::function::{Function, Prepared};
use crate::invocation::{Invocation, InvocationContext, with_deadline};
use std::time::{Duration, Instant};

pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "handler",
        imports: { default: async },
        exports: { default: async },
    });
}

impl Function {
    /// Calls the guest's `handle` with `input` and returns its output text.
    ///
    /// The guest runs in its own task that holds `guard` until the instance
    /// is gone, so a caller that goes away does not lose the invocation's
    /// report.
    pub async fn invoke_json(
        &self,
        input: String,
        ctx: InvocationContext,
        guard: impl Send + 'static,
    ) -> Result<String, InvokeError> {
        let Prepared::Handler(pre) = &*self.prepared else {
            return Err(InvokeError::BadRequest(
                "this function serves HTTP: call it at /fn/{project}/{name}/...".into(),
            ));
        };
        let pre = pre.clone();
        let max_output = self.limits.max_response_bytes;
        let mut inv = Invocation::new(self, ctx);
        let task = tokio::spawn(async move {
            let _guard = guard;
            let t0 = Instant::now();
            let mut instantiate = Duration::ZERO;
            let deadline = inv.deadline();
            let result = {
                let Invocation { store, .. } = &mut inv;
                let run = async {
                    let instance = pre.instantiate_async(&mut *store).await.map_err(|e| (e, false))?;
                    instantiate = t0.elapsed();
                    instance
                        .minicloud_platform_json_handler()
                        .call_handle(&mut *store, &input)
                        .await
                        .map_err(|e| (e, true))
                };
                with_deadline(deadline, run).await
            };
            let outcome = match result {
                Ok(Ok(Ok(out))) if out.len() as u64 > max_output => {
                    Err(InvokeError::ResponseTooLarge(max_output))
                }
                Ok(Ok(Ok(out))) => Ok(out),
                Ok(Ok(Err(message))) => Err(InvokeError::Guest(message)),
                Ok(Err((e, true))) => Err(inv.classify(&e)),
                Ok(Err((e, false))) => Err(inv.classify_instantiate(&e)),
                Err(timeout) => Err(timeout),
            };
            inv.finish(instantiate, None, outcome.as_ref().err().cloned());
            outcome
        });
        task.await
            .map_err(|e| InvokeError::Internal(format!("invocation task failed: {e}")))?
    }
}
