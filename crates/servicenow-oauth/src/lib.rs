//! Placeholder: the protocol types land with the foundation issue.
