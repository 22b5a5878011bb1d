pub mod check_io;
