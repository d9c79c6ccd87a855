// Starts the front end: wasm-bindgen's loader fetches rf-ui_bg.wasm beside it and runs
// rf-ui's main. A file, not an inline script, so the page's CSP needs no exception.
import init from "./rf-ui.js";

init();
