//! The `probe` subcommand of both binaries: one GET of a local health route, for container and
//! service-manager health checks in images that carry no shell or curl.

use std::time::Duration;

/// How long a probe may take in all.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// GETs `url`; `Ok` with the status line on a 2xx, `Err` saying what went wrong otherwise.
pub fn probe(url: &str) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(PROBE_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        let response = client.get(url).send().await.map_err(|e| format!("{url}: {}", without_url(&e)))?;
        let status = response.status();
        if status.is_success() { Ok(format!("{url}: {status}")) } else { Err(format!("{url}: {status}")) }
    })
}

/// Runs the `probe` subcommand of `program`: prints the status, exit code 0 on a 2xx.
pub fn probe_command(program: &str, url: &str) -> std::process::ExitCode {
    match probe(url) {
        Ok(status) => {
            println!("{status}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{program} probe: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The local URL of `path` on the port in `port_var` (else `default_port`).
pub fn local_url(port_var: &str, default_port: u16, path: &str) -> String {
    let port = std::env::var(port_var).ok().and_then(|p| p.trim().parse::<u16>().ok()).unwrap_or(default_port);
    format!("http://127.0.0.1:{port}{path}")
}

fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    if let Some(source) = std::error::Error::source(error) {
        text = format!("{text}: {source}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_port_fails_and_says_where() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("http://127.0.0.1:{port}/health");
        let error = probe(&url).unwrap_err();
        assert!(error.starts_with(&url), "{error}");
    }

    /// A server on a free port answering one request with `status_line`.
    fn answering(status_line: &'static str) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/ready", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ = write!(stream, "{status_line}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        });
        url
    }

    #[test]
    fn a_2xx_passes_and_anything_else_fails() {
        assert!(probe(&answering("HTTP/1.1 200 OK")).is_ok());
        let error = probe(&answering("HTTP/1.1 503 Service Unavailable")).unwrap_err();
        assert!(error.ends_with("503 Service Unavailable"), "{error}");
    }

    #[test]
    fn the_port_comes_from_the_variable_or_the_default() {
        assert_eq!(local_url("OPEN_COWORK_TEST_UNSET_PORT_VAR", 8790, "/health"), "http://127.0.0.1:8790/health");
    }
}
