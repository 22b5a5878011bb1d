//! Health -> destinations policy (placeholder until written below).
