//! The desktop app end to end: the real binary (custom protocol, the embedded ui/dist) in its
//! real WebKit webview, driven through tauri-driver and WebKitWebDriver under a private Xvfb
//! display and a private D-Bus session, against a real sync server on 127.0.0.1.
//! Screenshots go to `target/e2e-screenshots/` (look at them).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod desktop;
mod harness;
