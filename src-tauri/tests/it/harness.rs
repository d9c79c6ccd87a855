//! Starting the app under test: a private Xvfb display, tauri-driver (in a private D-Bus
//! session, so the app's single instance and tray never meet another app's), and a WebDriver
//! session on the app with the environment the test gives it.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// Long enough for a cold WebKit on a busy 2-core machine; a test that needs it is slow, not
/// wrong, and says what it waited for when it gives up.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Asks `probe` every 50 ms until it answers `Ok`, for at most [`PATIENCE`]; then fails with
/// its last `Err`, which says what it saw instead.
pub async fn eventually<T, Fut>(mut probe: impl FnMut() -> Fut) -> T
where
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(seen) => assert!(Instant::now() < deadline, "{seen}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn need(program: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    assert!(
        found,
        "{program} is not installed: the end-to-end tests need Xvfb, tauri-driver, \
         WebKitWebDriver and dbus-run-session; ./dev test installs them"
    );
}

/// A process group killed when dropped (tauri-driver starts WebKitWebDriver, which starts
/// the app: all of them go).
pub struct Group(pub Child);

impl Drop for Group {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.wait();
    }
}

/// A running app under a WebDriver session.
pub struct App {
    pub client: Client,
    _driver: Group,
    _tray_host: Group,
    _display: Group,
    /// What the D-Bus monitor saw of desktop notifications.
    notifications: PathBuf,
    _scratch: tempfile::TempDir,
    /// The Xvfb display the app is on (`:N`).
    pub display: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap()
}

/// A private Xvfb display: its process group, and its name (`:N`).
pub fn start_display() -> (Group, String) {
    need("Xvfb");
    let mut xvfb = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(xvfb.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let display = format!(":{}", line.trim());
    assert!(line.trim().parse::<u32>().is_ok(), "Xvfb said {line:?}");
    (Group(xvfb), display)
}

/// A tray host on `display`, as a desktop panel has: trayer, an XEmbed system tray in the
/// top-right corner. The app's tray icon docks there (libayatana-appindicator falls back to a
/// GtkStatusIcon when no StatusNotifier host is on the session bus, as in the tests' private
/// bus), so its menu can be opened and pictured.
fn start_tray_host(display: &str) -> Group {
    need("trayer");
    let trayer = Command::new("trayer")
        .args([
            "--edge",
            "top",
            "--align",
            "right",
            "--widthtype",
            "request",
        ])
        .args([
            "--height",
            "24",
            "--transparent",
            "false",
            "--SetDockType",
            "true",
        ])
        .env("DISPLAY", display)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    Group(trayer)
}

/// Runs `xdotool` on `display` and returns what it printed.
async fn xdotool(display: &str, args: &[&str]) -> String {
    need("xdotool");
    let output = tokio::process::Command::new("xdotool")
        .args(args)
        .env("DISPLAY", display)
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

impl App {
    /// Starts the app with `env` (RF_DATA_DIR and friends) and `args`, and waits until its
    /// page has painted its status bar.
    pub async fn start(env: &[(&str, String)], args: &[&str]) -> App {
        need("tauri-driver");
        need("WebKitWebDriver");
        need("dbus-run-session");
        need("dbus-monitor");
        let (display_group, display) = start_display();
        let tray_host = start_tray_host(&display);
        let (port, native_port) = (free_port(), free_port());
        // The session bus also carries a monitor of desktop notifications (there is no
        // notification server: the calls are seen, then refused), so a test can read them.
        let scratch = tempfile::tempdir().unwrap();
        let notifications = scratch.path().join("notifications.txt");
        let mut driver = Command::new("dbus-run-session");
        driver
            .args(["--", "sh", "-c"])
            .arg(
                "dbus-monitor --session \
                 \"type='method_call',interface='org.freedesktop.Notifications',member='Notify'\" \
                 > \"$0\" 2>/dev/null & exec tauri-driver \"$@\"",
            )
            .arg(&notifications)
            .args(["--port", &port.to_string()])
            .args(["--native-port", &native_port.to_string()])
            .env("DISPLAY", &display)
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            .env("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
            .env("RF_LOG", "warn")
            .stdout(Stdio::null())
            .process_group(0);
        for (name, value) in env {
            driver.env(name, value);
        }
        let driver = Group(driver.spawn().unwrap());
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tauri-driver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "tauri:options".into(),
            json!({
                "application": env!("CARGO_BIN_EXE_resolutionflow"),
                "args": args,
            }),
        );
        let client = ClientBuilder::native()
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        let app = App {
            client,
            _driver: driver,
            _tray_host: tray_host,
            _display: display_group,
            notifications,
            _scratch: scratch,
            display,
        };
        let painted = app
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("#status-bar"))
            .await;
        if let Err(error) = painted {
            // Say what the window showed instead: a picture, the page's address and its start.
            app.screenshot("app-never-painted").await;
            let url = app.client.current_url().await.map(|url| url.to_string());
            let source = app.client.source().await.unwrap_or_default();
            let start: String = source.chars().take(600).collect();
            panic!(
                "the app's page never showed its status bar within {PATIENCE:?} ({error}); \
                 it was at {url:?} with {start:?} (picture: app-never-painted.png)"
            );
        }
        app
    }

    /// Starts the app on a test device's replica, its login kept in the replica's file.
    pub async fn on(device: &rf_tests::device::Device, args: &[&str]) -> App {
        App::start(
            &[
                ("RF_DATA_DIR", device.path().display().to_string()),
                ("RF_TOKEN_STORE", "file".into()),
            ],
            args,
        )
        .await
    }

    /// Waits for an element matching `css`.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no {css} within {PATIENCE:?}: {error}"))
    }

    /// Waits for a desktop notification (the D-Bus `Notify` call) whose text contains
    /// `wanted`.
    pub async fn wait_for_notification(&self, wanted: &str) {
        eventually(|| async {
            let seen = std::fs::read_to_string(&self.notifications).unwrap_or_default();
            match seen.contains(wanted) {
                true => Ok(()),
                false => Err(format!(
                    "no desktop notification saying {wanted:?}; the bus carried: {seen}"
                )),
            }
        })
        .await
    }

    /// Clicks the element matching `css` once it is there.
    /// Clicks the element, scrolled into the middle of the view first (WebKit's driver does
    /// not scroll to an element below the fold, and calls it not interactable); at once, not
    /// smoothly as the page scrolls itself, so it is there when clicked.
    pub async fn click(&self, css: &str) {
        let element = self.wait_for(css).await;
        self.client
            .execute(
                "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})",
                vec![serde_json::to_value(&element).unwrap()],
            )
            .await
            .unwrap();
        element.click().await.unwrap();
    }

    /// The attribute `name` of the element matching `css` ("" when it has none).
    pub async fn attr(&self, css: &str, name: &str) -> String {
        let element = self.wait_for(css).await;
        element.attr(name).await.unwrap().unwrap_or_default()
    }

    /// Waits until the text under `css` contains `wanted`; says what it showed if it never did.
    pub async fn wait_for_text(&self, css: &str, wanted: &str) {
        eventually(|| async {
            let text = self.text(css).await;
            match text.contains(wanted) {
                true => Ok(()),
                false => Err(format!("{css} never said {wanted:?}: {text}")),
            }
        })
        .await
    }

    /// The page's text under `css`.
    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.unwrap()
    }

    /// Presses keys as a person does (the Actions API: Element Send Keys is broken through
    /// tauri-driver with newer WebKitWebDriver).
    pub async fn press(&self, keys: &str) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let mut actions = KeyActions::new("keyboard".into());
        for key in keys.chars() {
            actions = actions
                .then(KeyAction::Down { value: key })
                .then(KeyAction::Up { value: key });
        }
        self.client.perform_actions(actions).await.unwrap();
    }

    /// Presses keys on the X display (`xdotool key` names: `Down`, `Return`, `ctrl+alt+space`),
    /// reaching whatever has the keyboard: an open tray menu, a global shortcut.
    pub async fn press_on_display(&self, keys: &[&str]) {
        let mut args = vec!["key", "--clearmodifiers", "--delay", "80"];
        args.extend_from_slice(keys);
        xdotool(&self.display, &args).await;
    }

    /// Clicks the app's icon in the tray host, once it has docked there, to open its menu
    /// (on Linux the tray is menu-only: a click opens the menu).
    pub async fn click_tray_icon(&self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            // The tray host's window grows to fit the icons it holds.
            let found = xdotool(
                &self.display,
                &["search", "--onlyvisible", "--class", "trayer"],
            )
            .await;
            for window in found.lines() {
                let geometry =
                    xdotool(&self.display, &["getwindowgeometry", "--shell", window]).await;
                let value = |name: &str| {
                    geometry
                        .lines()
                        .find_map(|line| line.strip_prefix(&format!("{name}=")))
                        .and_then(|value| value.trim().parse::<i32>().ok())
                        .unwrap_or(0)
                };
                let (x, y, width, height) =
                    (value("X"), value("Y"), value("WIDTH"), value("HEIGHT"));
                if width >= 16 && height >= 16 {
                    // With no window manager the app's window covers the panel: raise it, as
                    // a desktop keeps its panel on top.
                    xdotool(&self.display, &["windowraise", window]).await;
                    let (x, y) = ((x + width / 2).to_string(), (y + height / 2).to_string());
                    xdotool(&self.display, &["mousemove", &x, &y, "click", "1"]).await;
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the app's icon never docked in the tray host"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a screenshot of the display as `target/e2e-screenshots/<name>.png`, taken from
    /// X (ImageMagick's `import`): WebDriver's screenshot waits for WebKit to paint a frame,
    /// which an idle page under Xvfb may never do.
    pub async fn screenshot(&self, name: &str) {
        need("import");
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{name}.png"));
        let status = tokio::process::Command::new("import")
            .args(["-display", &self.display, "-window", "root"])
            .arg(&file)
            .status()
            .await
            .unwrap();
        assert!(status.success(), "import could not take {}", file.display());
    }
}

pub fn screenshots_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-screenshots")
}
