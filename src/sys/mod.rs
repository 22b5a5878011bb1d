pub mod ipvs;
pub mod check_io;
