//! The harness of tongdao's end-to-end tests: it runs the real host on
//! loopback with the real built plugins. The platforms' sides of each
//! protocol live in the emulator crates under `tests/emulators/`.

pub mod harness;
