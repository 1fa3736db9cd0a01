//! `s3gate probe`: a health check for containers that have no shell and no
//! curl. Plain HTTP/1.1, exit 0 on status 200.

use std::time::Duration;

use anyhow::Context as _;

use s3gate::config::duration;

#[derive(clap::Args)]
pub struct Args {
    /// An `http://` URL.
    #[arg(default_value = "http://127.0.0.1:7070/_s3gate/healthz")]
    url: String,
    #[arg(long, default_value = "3s", value_parser = duration::parse)]
    timeout: Duration,
}

pub async fn run(Args { url, timeout }: Args) -> anyhow::Result<()> {
    let status = tokio::time::timeout(timeout, probe(&url))
        .await
        .map_err(|_| anyhow::anyhow!("{url}: no answer within {timeout:?}"))??;
    if status == 200 {
        Ok(())
    } else {
        anyhow::bail!("{url}: HTTP {status}")
    }
}

/// `GET url` over plain HTTP/1.1; the response's status code.
async fn probe(url: &str) -> anyhow::Result<u16> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let uri: http::Uri = url.parse().with_context(|| format!("not a URL: {url}"))?;
    if uri.scheme_str() != Some("http") {
        anyhow::bail!("{url}: only http:// URLs can be probed");
    }
    let host = uri.host().unwrap_or("127.0.0.1");
    let port = uri.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut stream = tokio::net::TcpStream::connect((host, port))
        .await
        .with_context(|| format!("cannot connect to {host}:{port}"))?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await?;
    std::str::from_utf8(&head)
        .ok()
        .and_then(|h| h.strip_prefix("HTTP/1.1 "))
        .and_then(|code| code.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("{url}: not an HTTP response"))
}
