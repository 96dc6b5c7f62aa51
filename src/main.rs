mod model;
mod store;
fn main() {}
