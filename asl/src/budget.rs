//! What one template may copy: a `Parameters` of 50,000 `"k.$": "$v"` keys
//! fits in a definition and, with `$v` a 256 KiB variable, would copy
//! gigabytes before the result's size is checked. Every value a path or an
//! intrinsic call selects is weighed as it is copied, and the template
//! fails with `States.DataLimitExceeded` as soon as its copies pass what
//! its result may weigh.

use serde_json::Value;

use crate::errors::{DATA_LIMIT_EXCEEDED, Failure};
use crate::machine::{MAX_PAYLOAD, json_bytes};

/// Bytes of JSON a template may still copy.
#[derive(Debug)]
pub(crate) struct Budget {
    left: usize,
}

impl Budget {
    /// As much as one state's input or output may weigh.
    pub(crate) fn payload() -> Self {
        Self { left: MAX_PAYLOAD }
    }

    /// Takes what `value`, just selected, weighs; fails when that is more
    /// than is left.
    pub(crate) fn take(&mut self, value: &Value) -> Result<(), Failure> {
        let bytes = json_bytes(value);
        self.left = self.left.checked_sub(bytes).ok_or_else(|| {
            Failure::new(
                DATA_LIMIT_EXCEEDED,
                format!("the values a template selects weigh more than the limit of {MAX_PAYLOAD} bytes"),
            )
        })?;
        Ok(())
    }
}
