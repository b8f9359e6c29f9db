//! Issue-15 cases.
