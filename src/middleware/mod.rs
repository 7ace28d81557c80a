//! One tower Layer per concern on a `/responses` turn.
