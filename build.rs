//! Rebuilds when a migration is added: `sqlx::migrate!` embeds the files of
//! `migrations/` at compile time, and cargo would not notice a new one.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
