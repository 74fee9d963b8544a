//! Test fixtures for tongdao's end-to-end tests: loopback platform emulators
//! and a harness that runs the real host.
