//! rf-ui: the ResolutionFlow desktop front end (Yew, wasm32), served by the Tauri shell.
//!
//! Code map: `bridge` is the only module that knows Tauri; `state` holds the reducers (plain
//! Rust, tested on the host); `pages` are the screens and `components` the pieces they share;
//! `markdown` renders flow text safely; `web` wraps the few browser calls.
#![forbid(unsafe_code)]

mod app;
mod bridge;
mod components;
mod hooks;
mod markdown;
mod pages;
mod state;
mod web;

fn main() {
    yew::Renderer::<app::App>::new().render();
}
