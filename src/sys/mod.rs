pub mod ipvs;
