#![no_main]

#[path = "../checks/payload.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| checks::check_input(bytes));
