#![no_main]

#[path = "../checks/fold.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| checks::check_input(bytes));
