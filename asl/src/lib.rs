//! The Amazon States Language, as Step Functions runs it, without I/O: the
//! durable engine in `minicloud-controlplane` (`workflows/`) stores what
//! this crate decides and runs the tasks it asks for.
//!
//! - [`context`]: the context object (`$$`): the execution, the state, its
//!   task token and a Map's item.
//! - [`paths`]: JSONPath on the input, the context object and the
//!   variables, and the reference paths results are written to.
//! - [`intrinsics`]: `States.Format`, `States.Array` and the other
//!   intrinsic functions.
//! - [`jsonata`]: JSONata, the query language of states that set
//!   `"QueryLanguage": "JSONata"`: `{% %}` expressions and the templates
//!   (`Arguments`, `Output`, `Assign`, ...) that hold them.
//! - [`payload`]: payload templates (`Parameters`, `ResultSelector`,
//!   `ItemSelector`), whose `.$` keys take a path or an intrinsic call.
//! - [`variables`]: workflow variables: their names, and `Assign` in
//!   JSONPath and JSONata states.
//! - [`choice`]: Choice rules: comparisons, `And`/`Or`/`Not`, type tests.
//! - [`definition`]: a definition parsed and validated, every problem at
//!   its JSON path.
//! - `process`: input and output processing (`InputPath`, `Parameters`,
//!   `ResultSelector`, `ResultPath`, `OutputPath`), as methods of
//!   [`definition::Io`].
//! - [`machine`]: the interpreter: an execution as a journal of events,
//!   the decisions that write it, and the tasks and timers it asks for.
//! - [`retry`]: `Retry` and `Catch`: which retrier or catcher answers a
//!   failure, and the delay before a retry.
//! - `budget`: what one template may copy before its result is weighed.
//! - [`errors`]: error names (`States.ALL`, `States.TaskFailed`, ...), a
//!   failure's error and cause, and the problems a definition has.

mod budget;
pub mod choice;
pub mod context;
pub mod definition;
pub mod errors;
pub mod intrinsics;
pub mod jsonata;
pub mod machine;
pub mod paths;
pub mod payload;
mod process;
pub mod retry;
pub mod variables;

pub use errors::{Failure, Problem};
