//! The capabilities of the requests one reused instance serves, by the
//! task that serves each: one request's are in `InstanceState::caps`, the
//! others wait here.
//!
//! At each host call (the store's call hook, [`act_for_caller`]) the
//! capabilities of the request whose task makes the call are put in place,
//! so that each request's host calls act for its own caller, under its
//! trace id, within its own host-call limits, whichever other requests
//! started since, and after its response too (work a task goes on with).
//! What the guest prints goes with them: the instance's capture of stdout
//! and stderr hands it to the capture of the request in place. A call made
//! outside any request's task (instantiation) acts for nobody: an
//! anonymous caller. A capability call holds the store until it returns
//! (wasmtime keeps the store on the fiber while a host call waits), so no
//! other request's code runs, or swaps capabilities, in the middle of one.
//!
//! A task's entry stays until a request whose task has the same id starts
//! (the store's task ids are slots it reuses), or, once its request is
//! recorded (or dropped unrecorded: a client that left), until more than
//! [`KEPT_RECORDED`] wait: then the recorded ones go (a guest that steers
//! which slot each request's task gets cannot grow them one a request),
//! and their tasks' later calls act for nobody.
//!
//! Composed components are kept out: an inner async call (a subtask) can
//! outlive the task that made it; the store gives the dead task's slot to
//! a new task, the next request's as like as not, and the subtask's call
//! stack then leads there, so its calls would act for that request's
//! caller (the store's task ids carry no generation to tell the two
//! apart). The control plane never reuses instances of a component whose
//! inner components run code (`world::composes_components`), so in a
//! reused instance every guest task is a request's own.

use crate::caps::CapState;
use crate::logs::LogCapture;
use crate::state::InstanceState;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use wasmtime::StoreContextMut;
use wasmtime::component::GuestTaskId;

/// Entries of recorded requests kept for their tasks' later work before
/// they go.
const KEPT_RECORDED: usize = 64;

/// One request's capabilities, and whether it is recorded.
struct Request {
    caps: CapState,
    recorded: Arc<AtomicBool>,
}

impl Request {
    fn is_recorded(&self) -> bool {
        self.recorded.load(Ordering::Relaxed)
    }
}

pub(crate) struct RequestCaps<Task = GuestTaskId> {
    /// Whose capabilities are in place (`None`: nobody's), with their
    /// request's record flag.
    current: Option<(Task, Arc<AtomicBool>)>,
    /// The other requests', by task.
    waiting: HashMap<Task, Request>,
    /// Nobody's, while a request's are in place.
    nobody: Option<CapState>,
    /// The instance's capture of what the guest prints, told which
    /// request's capture speaks for it.
    printed: LogCapture,
}

impl<Task: Copy + Eq + Hash> RequestCaps<Task> {
    /// Room for `concurrent` requests' entries; `printed` is the instance's
    /// capture of its stdout and stderr.
    pub(crate) fn with_capacity(concurrent: usize, printed: LogCapture) -> Self {
        Self {
            current: None,
            waiting: HashMap::with_capacity(concurrent.min(KEPT_RECORDED)),
            nobody: None,
            printed,
        }
    }

    /// A request starts in `task`; `recorded` is set once it is recorded.
    pub(crate) fn start(
        &mut self,
        task: Task,
        caps: CapState,
        recorded: Arc<AtomicBool>,
        in_place: &mut CapState,
    ) {
        if let Some((current, flag)) = &mut self.current
            && *current == task
        {
            *in_place = caps;
            *flag = recorded;
            self.printed.speak_for(Some(&in_place.logs));
            return;
        }
        if self.waiting.len() > KEPT_RECORDED {
            self.waiting.retain(|_, request| !request.is_recorded());
        }
        self.waiting.insert(task, Request { caps, recorded });
    }

    /// Puts the capabilities of `task`'s request in place (nobody's for a
    /// task that serves no request).
    fn act_for(&mut self, task: Option<Task>, in_place: &mut CapState) {
        let current = self.current.as_ref().map(|(t, _)| *t);
        let task = task.filter(|t| current == Some(*t) || self.waiting.contains_key(t));
        if task == current {
            return;
        }
        let next = match task {
            Some(t) => self.waiting.remove(&t).map(|r| (r.caps, Some(r.recorded))),
            None => self.nobody.take().map(|caps| (caps, None)),
        };
        let Some((caps, recorded)) = next else {
            return;
        };
        let previous = std::mem::replace(in_place, caps);
        match self.current.take() {
            Some((t, recorded)) => {
                self.waiting.insert(
                    t,
                    Request {
                        caps: previous,
                        recorded,
                    },
                );
            }
            None => self.nobody = Some(previous),
        }
        self.current = task.zip(recorded);
        self.printed.speak_for(task.map(|_| &in_place.logs));
    }
}

/// The store's call hook at each host call of a reused instance: the
/// capabilities of the request whose task calls are put in place. The
/// task is the root of the component model's async call stack (the
/// handler's export call that `on_request_start` was told of). A stack the
/// store cannot tell is an error: the guest traps rather than go on.
pub(crate) fn act_for_caller(store: &mut StoreContextMut<'_, InstanceState>) -> wasmtime::Result<()> {
    let root = store.async_call_stack()?.last();
    let state = store.data_mut();
    if let Some(requests) = state.requests.as_mut() {
        requests.act_for(root, &mut state.caps);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::Caller;

    /// Capabilities told apart by their trace id.
    fn caps(trace: &str) -> CapState {
        let logs = LogCapture::new(1024);
        CapState::new(
            Arc::default(),
            Caller::anonymous(),
            None,
            None,
            Arc::from(trace),
            logs,
        )
    }

    #[test]
    fn each_task_gets_its_own_requests_capabilities() {
        let mut requests = RequestCaps::<u32>::with_capacity(4, LogCapture::new(1024));
        let mut in_place = caps("nobody");
        requests.start(1, caps("one"), Arc::default(), &mut in_place);
        requests.start(2, caps("two"), Arc::default(), &mut in_place);
        assert_eq!(&*in_place.trace_id, "nobody", "a start puts nothing in place");
        let mut seen = Vec::new();
        for task in [Some(1), Some(2), Some(2), Some(1), None, Some(7), Some(2)] {
            requests.act_for(task, &mut in_place);
            seen.push(in_place.trace_id.to_string());
        }
        assert_eq!(
            seen,
            ["one", "two", "two", "one", "nobody", "nobody", "two"],
            "a task serving no request acts for nobody"
        );
        // A task id its store gives again, to a new request: the new one's,
        // in place or waiting.
        requests.start(2, caps("two again"), Arc::default(), &mut in_place);
        assert_eq!(&*in_place.trace_id, "two again");
        requests.start(1, caps("one again"), Arc::default(), &mut in_place);
        requests.act_for(Some(1), &mut in_place);
        assert_eq!(&*in_place.trace_id, "one again");
        assert_eq!(requests.waiting.len(), 1, "one entry a task");
        requests.act_for(None, &mut in_place);
        assert_eq!(&*in_place.trace_id, "nobody");
    }

    #[test]
    fn recorded_requests_go_once_many_wait() {
        let mut requests = RequestCaps::<u32>::with_capacity(4, LogCapture::new(1024));
        let mut in_place = caps("nobody");
        let mut flags = Vec::new();
        for task in 0..200u32 {
            let recorded = Arc::new(AtomicBool::new(false));
            requests.start(task, caps(&task.to_string()), recorded.clone(), &mut in_place);
            flags.push(recorded);
            // All but the last three are answered and recorded at once.
            if task >= 3 {
                flags[task as usize - 3].store(true, Ordering::Relaxed);
            }
        }
        assert!(
            requests.waiting.len() <= KEPT_RECORDED + 1,
            "{} kept",
            requests.waiting.len()
        );
        for live in 197..200 {
            requests.act_for(Some(live), &mut in_place);
            assert_eq!(*in_place.trace_id, *live.to_string(), "a live request is kept");
        }
        requests.act_for(Some(0), &mut in_place);
        assert_eq!(
            &*in_place.trace_id, "nobody",
            "a recorded one that went acts for nobody"
        );
    }
}
