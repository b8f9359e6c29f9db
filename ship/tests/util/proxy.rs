//! A small fault-injecting HTTP proxy between ship and moto: it answers a
//! share of requests itself with 500 InternalError, 503 SlowDown or a
//! connection reset (before moto sees them), and forwards the rest.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which requests the proxy spoils.
#[derive(Clone, Copy)]
pub enum Faults {
    /// Every `n`-th request, cycling through 500, 503 SlowDown and reset.
    EveryNth(u64),
    /// Every UploadPart of part 2 gets 503 SlowDown.
    Part2Always,
    /// UploadPart requests are held for this long before being forwarded.
    SlowParts(Duration),
    /// Like SlowParts, and every DeleteObject is answered 403 AccessDenied,
    /// as S3 answers for a version under Object Lock (which moto does not
    /// apply to multipart uploads).
    SlowPartsDenyDeletes(Duration),
    /// CompleteMultipartUpload requests are held for this long.
    SlowCompletes(Duration),
}

pub struct Proxy {
    pub port: u16,
    pub requests: Arc<AtomicU64>,
    pub faults_injected: Arc<AtomicU64>,
    /// `> METHOD target` when a request arrives, `< METHOD target` once
    /// its answer is sent, in the order they happened.
    pub log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl Proxy {
    pub fn start(upstream: u16, faults: Faults) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicU64::new(0));
        let injected = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (r, i, s, l) = (
            requests.clone(),
            injected.clone(),
            stop.clone(),
            log.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (r, i, l) = (r.clone(), i.clone(), l.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, upstream, faults, &r, &i, &l);
                });
            }
        });
        Proxy {
            port,
            requests,
            faults_injected: injected,
            log,
            stop,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// One request per connection: read it, spoil or forward it, close.
fn serve(
    conn: TcpStream,
    upstream: u16,
    faults: Faults,
    requests: &AtomicU64,
    injected: &AtomicU64,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let end = line == "\r\n";
            head.extend_from_slice(line.as_bytes());
            if end {
                break;
            }
        }
        let text = String::from_utf8_lossy(&head).to_string();
        let request_line = text.lines().next().unwrap_or_default().to_string();
        let len: usize = text
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body)?;
        let n = requests.fetch_add(1, Ordering::Relaxed) + 1;
        let target = request_line
            .rsplit_once(' ')
            .map_or(&*request_line, |(t, _)| t)
            .to_string();
        log.lock().unwrap().push(format!("> {target}"));
        let is_part = request_line.contains("partNumber=");
        let is_complete = request_line.starts_with("POST ") && request_line.contains("uploadId=");
        let fault = match faults {
            Faults::EveryNth(k) if n.is_multiple_of(k) => Some((n / k) % 3),
            Faults::Part2Always
                if request_line.contains("partNumber=2&")
                    || request_line.contains("partNumber=2 ") =>
            {
                Some(1)
            }
            Faults::SlowParts(d) | Faults::SlowPartsDenyDeletes(d) if is_part => {
                std::thread::sleep(d);
                None
            }
            Faults::SlowCompletes(d) if is_complete => {
                std::thread::sleep(d);
                None
            }
            Faults::SlowPartsDenyDeletes(_)
                if request_line.starts_with("DELETE ") && !request_line.contains("uploadId=") =>
            {
                Some(3)
            }
            _ => None,
        };
        let mut out = conn.try_clone()?;
        match fault {
            Some(0) => {
                injected.fetch_add(1, Ordering::Relaxed);
                reset(&out);
                return Ok(());
            }
            Some(kind) => {
                injected.fetch_add(1, Ordering::Relaxed);
                let (status, code) = match kind {
                    1 => ("503 Slow Down", "SlowDown"),
                    3 => ("403 Forbidden", "AccessDenied"),
                    _ => ("500 Internal Server Error", "InternalError"),
                };
                let xml = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected</Message></Error>"
                );
                write!(
                    out,
                    "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                    xml.len()
                )?;
                return Ok(());
            }
            None => {}
        }
        let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
        // Ask moto to close after answering, so its answer ends at EOF.
        let head = text
            .lines()
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\r\n");
        write!(up, "{head}\r\nConnection: close\r\n\r\n")?;
        up.write_all(&body)?;
        let mut answer = Vec::new();
        up.read_to_end(&mut answer)?;
        out.write_all(&answer)?;
        log.lock().unwrap().push(format!("< {target}"));
    }
    Ok(())
}

/// Close with RST instead of FIN: what a reset connection looks like.
fn reset(s: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}
