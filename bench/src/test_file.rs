//! The large file of the `files` benchmark: made deterministically on
//! disk (never held in memory), read back part by part, and checked on
//! arrival (size and MD5).

use std::io::Write as _;
use std::path::Path;

use anyhow::ensure;
use bytes::Bytes;
use contaxy_common::storage::upload::hex;
use md5::{Digest, Md5};
use tokio::io::AsyncReadExt;

/// The API's part size (`CONTAXY_API_UPLOAD_PART_BYTES`, its default),
/// used by the direct upload too.
pub const PART_BYTES: usize = 8 * 1024 * 1024;

/// What a download received: its size and digest.
#[derive(Default)]
pub struct Received {
    size: u64,
    md5: Md5,
}

impl Received {
    pub fn take(&mut self, chunk: &[u8]) {
        self.size += chunk.len() as u64;
        self.md5.update(chunk);
    }

    pub fn check(self, size: u64, md5: &str, what: &str) -> anyhow::Result<()> {
        let got = hex(&self.md5.finalize());
        ensure!(
            self.size == size && got == md5,
            "{what} got {} bytes with MD5 {got}, not {size} with {md5}",
            self.size
        );
        Ok(())
    }
}

/// The next part of the file (shorter at its end, empty past it).
pub async fn read_part(file: &mut tokio::fs::File) -> anyhow::Result<Bytes> {
    let mut part = vec![0; PART_BYTES];
    let mut filled = 0;
    while filled < PART_BYTES {
        let read = file.read(&mut part[filled..]).await?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    part.truncate(filled);
    Ok(Bytes::from(part))
}

/// Writes `size` bytes of a fixed pseudo-random sequence (xorshift64*, so
/// nothing along the way can compress it) to `path`; answers their MD5.
pub fn make_data(path: &Path, size: u64) -> anyhow::Result<String> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut md5 = Md5::new();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut chunk = vec![0u8; 1024 * 1024];
    let mut left = size;
    while left > 0 {
        for word in chunk.chunks_exact_mut(8) {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            word.copy_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        let take = usize::try_from(left.min(chunk.len() as u64))?;
        out.write_all(&chunk[..take])?;
        md5.update(&chunk[..take]);
        left -= take as u64;
    }
    out.flush()?;
    Ok(hex(&md5.finalize()))
}
