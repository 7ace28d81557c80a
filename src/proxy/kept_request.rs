//! The request a continuation extends, kept for the life of a stream.
//!
//! A Task call can come at any point of a stream, and its continuation is that
//! request plus the output so far; but most streams never continue, and a stream
//! spends most of its life quiet (the model thinking, Codex holding it open). So a
//! quiet stream's request is packed: serialised and zstd-compressed off the
//! runtime, a few KiB in place of the whole body (megabytes in a long session),
//! and the packed bytes go to the spill file, out of the process's memory, until a
//! continuation reads them back.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

use crate::wire::request::{ParseError, ResponsesRequest};

/// Fast: packing runs on most turns, unpacking only when a Task continues one.
const LEVEL: i32 = 1;

/// The spill file's unit: extents are whole pages, so a freed one gives its pages back.
const PAGE: u64 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum KeptError {
    #[error("could not unpack the kept request: {0}")]
    Unpack(#[source] std::io::Error),
    #[error("could not read the kept request back from the spill file: {0}")]
    Unspill(#[source] std::io::Error),
    #[error("the kept request no longer parses: {0}")]
    Parse(#[from] ParseError),
}

#[derive(Debug)]
pub enum KeptRequest {
    Parsed(ResponsesRequest),
    /// The request as sent, zstd-compressed.
    Packed(Bytes),
    /// Packed, in the spill file.
    Spilled(Spilled),
}

impl KeptRequest {
    pub fn is_packed(&self) -> bool {
        !matches!(self, KeptRequest::Parsed(_))
    }

    /// The packed form: CPU-bound, for a blocking thread. The request's chunks (its
    /// body's own slices and what the proxy wrote) are compressed as they are, so a
    /// long session is never joined into one more copy of itself.
    pub fn pack(request: &ResponsesRequest) -> std::io::Result<Bytes> {
        let chunks = request.to_chunks();
        let size = chunks.iter().map(|c| c.len() as u64).sum();
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), LEVEL)?;
        // Known up front, so zstd sizes its tables for the input, not for a stream.
        encoder.set_pledged_src_size(Some(size))?;
        for chunk in &chunks {
            encoder.write_all(chunk)?;
        }
        let mut packed = encoder.finish()?;
        packed.shrink_to_fit();
        Ok(Bytes::from(packed))
    }

    /// Packed, and spilled when there is a spill file. A spill that fails keeps the
    /// packed bytes in memory: nothing is lost, the stream only costs more.
    pub fn put_away(
        request: &ResponsesRequest,
        spill: Option<&Arc<SpillFile>>,
    ) -> std::io::Result<KeptRequest> {
        let packed = KeptRequest::pack(request)?;
        let Some(spill) = spill else {
            return Ok(KeptRequest::Packed(packed));
        };
        Ok(match spill.put(&packed) {
            Ok(spilled) => KeptRequest::Spilled(spilled),
            Err(e) => {
                tracing::warn!(error = %e, "could not spill the kept request; keeping it in memory");
                KeptRequest::Packed(packed)
            }
        })
    }

    /// The request, unpacked if need be: CPU-bound when packed, blocking I/O when
    /// spilled.
    pub fn into_request(self) -> Result<ResponsesRequest, KeptError> {
        let packed = match self {
            KeptRequest::Parsed(request) => return Ok(request),
            KeptRequest::Packed(packed) => packed,
            KeptRequest::Spilled(spilled) => spilled.read().map_err(KeptError::Unspill)?,
        };
        let mut raw = Vec::new();
        zstd::stream::copy_decode(&packed[..], &mut raw).map_err(KeptError::Unpack)?;
        Ok(ResponsesRequest::parse(&Bytes::from(raw))?)
    }
}

/// Where quiet streams' packed requests wait, out of the process's memory (the page
/// cache holds them, and the kernel may write them out and evict them). One file per
/// process, unlinked from the start, so not even a crash leaves it behind; written
/// and read at page-aligned offsets, which a stream gives back when it ends for the
/// next to overwrite. The file grows to the most ever kept at once and stays so;
/// a finished stream's pages are not punched out, which would be one more system
/// call (a journaled one on ext4) per stream for pages the next one overwrites.
#[derive(Debug)]
pub struct SpillFile {
    file: std::fs::File,
    extents: Mutex<Extents>,
}

#[derive(Debug, Default)]
struct Extents {
    /// The end of the file's used part.
    end: u64,
    /// Freed extents' offsets by their length in pages.
    free: HashMap<u64, Vec<u64>>,
}

impl SpillFile {
    /// An unlinked file in `dir`.
    pub fn create_in(dir: &Path) -> std::io::Result<SpillFile> {
        Ok(SpillFile {
            file: tempfile::tempfile_in(dir)?,
            extents: Mutex::new(Extents::default()),
        })
    }

    /// Writes `packed` to a free extent.
    pub fn put(self: &Arc<Self>, packed: &[u8]) -> std::io::Result<Spilled> {
        let pages = (packed.len() as u64).div_ceil(PAGE).max(1);
        let offset = {
            let mut extents = self.extents.lock().unwrap_or_else(PoisonError::into_inner);
            match extents.free.get_mut(&pages).and_then(Vec::pop) {
                Some(offset) => offset,
                None => {
                    let offset = extents.end;
                    extents.end += pages * PAGE;
                    offset
                }
            }
        };
        let spilled = Spilled {
            spill: Arc::clone(self),
            offset,
            len: packed.len(),
        };
        // On failure, dropping `spilled` frees the extent again.
        io::write_at(&self.file, packed, offset)?;
        Ok(spilled)
    }

    /// The file's used length, freed extents included.
    pub fn used(&self) -> u64 {
        self.extents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .end
    }

    fn free(&self, offset: u64, len: usize) {
        let pages = (len as u64).div_ceil(PAGE).max(1);
        let mut extents = self.extents.lock().unwrap_or_else(PoisonError::into_inner);
        extents.free.entry(pages).or_default().push(offset);
    }
}

/// One packed request in the spill file; its extent is freed when dropped.
#[derive(Debug)]
pub struct Spilled {
    spill: Arc<SpillFile>,
    offset: u64,
    len: usize,
}

impl Spilled {
    /// The packed bytes: blocking I/O.
    fn read(&self) -> std::io::Result<Bytes> {
        let mut packed = vec![0; self.len];
        io::read_at(&self.spill.file, &mut packed, self.offset)?;
        Ok(Bytes::from(packed))
    }
}

impl Drop for Spilled {
    fn drop(&mut self) {
        self.spill.free(self.offset, self.len);
    }
}

#[cfg(unix)]
mod io {
    use std::os::unix::fs::FileExt;

    pub fn write_at(file: &std::fs::File, buf: &[u8], offset: u64) -> std::io::Result<()> {
        file.write_all_at(buf, offset)
    }

    pub fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        file.read_exact_at(buf, offset)
    }
}

#[cfg(not(unix))]
mod io {
    fn unsupported() -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "no positioned file I/O here",
        )
    }

    pub fn write_at(_: &std::fs::File, _: &[u8], _: u64) -> std::io::Result<()> {
        Err(unsupported())
    }

    pub fn read_at(_: &std::fs::File, _: &mut [u8], _: u64) -> std::io::Result<()> {
        Err(unsupported())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ResponsesRequest {
        let body = serde_json::json!({
            "model": "gpt-5.5", "stream": true, "instructions": "Be brief. ".repeat(200),
            "input": [{"type": "message", "role": "user",
                       "content": [{"type": "input_text", "text": "héllo \"there\"\n"}]}],
            "tools": [{"type": "function", "name": "Task", "parameters": {}}],
            "x_unknown": {"kept": [1, 2.5, null]},
        });
        ResponsesRequest::parse(&Bytes::from(body.to_string())).unwrap()
    }

    #[test]
    fn packed_requests_come_back_byte_for_byte_and_smaller() {
        let request = request();
        let packed = KeptRequest::pack(&request).unwrap();
        let raw = request.to_bytes();
        assert!(
            packed.len() * 4 < raw.len(),
            "{} of {}",
            packed.len(),
            raw.len()
        );
        let back = KeptRequest::Packed(packed).into_request().unwrap();
        assert_eq!(back.to_bytes(), raw);
        let parsed = KeptRequest::Parsed(request).into_request().unwrap();
        assert_eq!(parsed.to_bytes(), raw);
    }

    #[test]
    fn an_edited_request_packs_as_it_would_be_sent() {
        let mut request = request();
        let mut tools = request.tools.clone().unwrap_or_default();
        tools.push(crate::wire::request::RawJson::from_value(
            &serde_json::json!({"type": "function", "name": "Added"}),
        ));
        request.set_tools(tools);
        assert!(request.to_chunks().len() > 1, "the edit should make chunks");
        let packed = KeptRequest::pack(&request).unwrap();
        let back = KeptRequest::Packed(packed).into_request().unwrap();
        assert_eq!(back.to_bytes(), request.to_bytes());
    }

    #[test]
    fn a_damaged_pack_is_a_clear_error() {
        let e = KeptRequest::Packed(Bytes::from_static(b"not zstd"))
            .into_request()
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("could not unpack the kept request"),
            "{e}"
        );
        let not_json = zstd::bulk::compress(b"{\"input\": [", LEVEL).unwrap();
        let e = KeptRequest::Packed(not_json.into())
            .into_request()
            .unwrap_err();
        assert!(matches!(e, KeptError::Parse(_)), "{e}");
    }

    #[test]
    fn spilled_requests_come_back_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let spill = Arc::new(SpillFile::create_in(dir.path()).unwrap());
        let request = request();
        let kept = KeptRequest::put_away(&request, Some(&spill)).unwrap();
        assert!(matches!(kept, KeptRequest::Spilled(_)), "{kept:?}");
        assert!(kept.is_packed());
        assert_eq!(kept.into_request().unwrap().to_bytes(), request.to_bytes());
        // Unlinked: nothing in the directory, even while the file is in use.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_finished_streams_extent_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let spill = Arc::new(SpillFile::create_in(dir.path()).unwrap());
        let a = spill.put(&[1; 5000]).unwrap();
        let b = spill.put(&[2; 100]).unwrap();
        assert_eq!(spill.used(), 3 * PAGE);
        drop(a);
        // Same size in pages: a's place; another size goes on at the end.
        let c = spill.put(&[3; 8000]).unwrap();
        assert_eq!(spill.used(), 3 * PAGE);
        let d = spill.put(&[4; 9000]).unwrap();
        assert_eq!(spill.used(), 6 * PAGE);
        assert_eq!(&b.read().unwrap()[..], &[2; 100][..]);
        assert_eq!(&c.read().unwrap()[..], &[3; 8000][..]);
        assert_eq!(&d.read().unwrap()[..], &[4; 9000][..]);
    }

    #[test]
    fn without_a_spill_file_the_packed_request_stays_in_memory() {
        let request = request();
        let kept = KeptRequest::put_away(&request, None).unwrap();
        assert!(matches!(kept, KeptRequest::Packed(_)), "{kept:?}");
        assert_eq!(kept.into_request().unwrap().to_bytes(), request.to_bytes());
    }
}
