//! Media work for a request: run off the async threads, at most `media_concurrency` at once,
//! and stopped when its client goes away.
//!
//! actix-web goes on running a handler whose client has closed the connection until the
//! handler writes, so media work watches the connection itself: each connection keeps a
//! duplicate of its socket (`on_connect`), and the work is cancelled (its ffmpeg children
//! killed, its spool files removed, nothing recorded) once a peek at that socket reads the end
//! of the stream or an error. A client that half-closes its side after sending a request is
//! taken as gone too: HTTP clients do not do that while waiting for an answer.

use std::any::Any;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Extensions;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};

use super::error::ApiError;
use super::AppState;
use crate::media::video::Deadline;

/// How often running media work looks at its client's connection.
const PEER_POLL: Duration = Duration::from_millis(200);

/// A request's connection, as its handler can watch it.
#[derive(Clone)]
pub struct PeerConnection(Arc<std::net::TcpStream>);

/// Keeps a duplicate of each TCP connection's socket in its connection data.
pub fn on_connect(connection: &dyn Any, data: &mut Extensions) {
    let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else { return };
    match stream.as_fd().try_clone_to_owned() {
        Ok(fd) => {
            data.insert(PeerConnection(Arc::new(std::net::TcpStream::from(fd))));
        }
        Err(e) => tracing::warn!(error = %e, "cannot watch a connection: work for it runs to its end"),
    }
}

impl PeerConnection {
    pub fn of(req: &HttpRequest) -> Option<PeerConnection> {
        req.conn_data::<PeerConnection>().cloned()
    }

    /// True once the client has closed the connection (or its sending side) or reset it.
    /// The socket is non-blocking (tokio made it so), so the peek never waits, and it leaves
    /// what it sees for the server to read.
    fn is_closed(&self) -> bool {
        let mut byte = [0u8; 1];
        match self.0.peek(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted),
        }
    }

    async fn closed(&self) {
        while !self.is_closed() {
            tokio::time::sleep(PEER_POLL).await;
        }
    }
}

/// Runs blocking media work off the async threads, at most `media_concurrency` at once. The
/// work's permit is held until the work itself ends, even when its request is gone.
pub async fn media_task<T: Send + 'static>(
    state: &AppState,
    req: &HttpRequest,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let run = async {
        let permit = state.media_permits.clone().acquire_owned().await.map_err(|_| ApiError::internal())?;
        // Video work stops at its deadline, or when this future is dropped (the client went
        // away): its ffmpeg children are killed.
        let deadline = state.video.deadline();
        let _cancel_on_drop = CancelOnDrop(deadline.clone());
        web::block(move || {
            let _permit = permit;
            deadline.scope(work)
        })
        .await
        .map_err(|_| ApiError::internal())
    };
    let Some(peer) = PeerConnection::of(req) else { return run.await };
    tokio::select! {
        done = run => done,
        () = peer.closed() => {
            tracing::info!("the client went away: its media work is cancelled");
            Err(ApiError::new(
                StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
                "client_closed_request",
                "the client closed the connection",
            ))
        }
    }
}

/// Cancels a piece of media work when the request that wanted it is dropped.
struct CancelOnDrop(Deadline);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}
