pub mod persist;
pub mod watchdog;
