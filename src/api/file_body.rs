//! A response body read from a temporary file a chunk at a time; the file is deleted when
//! the body is done with (sent, failed or abandoned by the client).

use actix_web::web::Bytes;
use futures_util::Stream;
use tokio::io::AsyncReadExt;

const CHUNK: usize = 64 * 1024;

/// The file's length and its contents as a stream.
pub async fn stream(
    file: tempfile::NamedTempFile,
) -> std::io::Result<(u64, impl Stream<Item = Result<Bytes, actix_web::Error>>)> {
    let length = file.as_file().metadata()?.len();
    let reader = tokio::fs::File::open(file.path()).await?;
    let body = futures_util::stream::unfold(Some((reader, file)), |state| async move {
        // Holding the temporary file in the state keeps it until the stream is dropped.
        let (mut reader, file) = state?;
        let mut buffer = vec![0u8; CHUNK];
        match reader.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok(Bytes::from(buffer)), Some((reader, file))))
            }
            Err(e) => Some((Err(actix_web::error::ErrorInternalServerError(e)), None)),
        }
    });
    Ok((length, body))
}
