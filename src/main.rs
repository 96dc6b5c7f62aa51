mod ca;
mod model;
mod service;
mod store;
fn main() {}
