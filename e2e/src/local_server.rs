//! The tests' own HTTP servers (the app server, a custom API, the bench's front server): an
//! axum router on a free `127.0.0.1` port, in a task of this runtime, stopped when dropped.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::TestResult;

pub struct LocalServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl LocalServer {
    /// Serves `router`; `what` names it in the error printed if serving fails.
    pub async fn start(router: Router, what: &'static str) -> TestResult<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                eprintln!("{what} failed: {e}");
            }
        });
        Ok(Self { addr, task })
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        // Not a graceful stop: the browser's keep-alive connections would hold one up.
        self.task.abort();
    }
}
