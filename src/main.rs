fn main() {
    println!("keeplite {}", env!("CARGO_PKG_VERSION"));
}
