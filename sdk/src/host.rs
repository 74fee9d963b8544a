//! The host's imports (logging and randomness), with stand-ins for native
//! builds so plugin logic runs under plain `cargo test`.

/// Log lines attributed by the host to the plugin and the shop it serves.
///
/// Never pass secrets (app secrets, tokens, AES keys) to these functions.
pub mod log {
    use crate::bindings::tongdao::channel::host::LogLevel;

    fn write(level: LogLevel, message: &str) {
        #[cfg(target_arch = "wasm32")]
        crate::bindings::tongdao::channel::host::log(level, message);
        #[cfg(not(target_arch = "wasm32"))]
        eprintln!("[plugin {level:?}] {message}");
    }

    /// Log at debug level.
    pub fn debug(message: &str) {
        write(LogLevel::Debug, message)
    }

    /// Log at info level.
    pub fn info(message: &str) {
        write(LogLevel::Info, message)
    }

    /// Log at warn level.
    pub fn warn(message: &str) {
        write(LogLevel::Warn, message)
    }

    /// Log at error level.
    pub fn error(message: &str) {
        write(LogLevel::Error, message)
    }
}

/// Cryptographically secure random bytes from the host.
///
/// On native builds (plugin unit tests) they come from the operating system.
pub fn random_bytes(len: u32) -> Vec<u8> {
    #[cfg(target_arch = "wasm32")]
    {
        crate::bindings::tongdao::channel::host::random_bytes(len)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut bytes = vec![0u8; len as usize];
        getrandom::fill(&mut bytes).expect("operating system randomness");
        bytes
    }
}
