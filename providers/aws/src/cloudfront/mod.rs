//! CloudFront: distributions and custom policies.

mod distribution;
pub(crate) mod mapping;
mod policies;

/// How many times a read-modify-write retries after `PreconditionFailed` (someone else changed
/// the object between our GET and our PUT).
pub(crate) const PRECONDITION_RETRIES: usize = 2;
