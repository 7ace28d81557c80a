//! Request body content encodings: Codex compresses bodies with zstd in ChatGPT mode;
//! other clients may send gzip. Decoding is capped so a small bomb cannot grow past
//! the body limit.

use std::io::Read;

use bytes::Bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Zstd,
    Gzip,
    Deflate,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("unsupported content-encoding {0:?}")]
    Unsupported(String),
    #[error("corrupt {encoding} data: {cause}")]
    Corrupt {
        encoding: &'static str,
        cause: String,
    },
    #[error("decoded body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
}

impl Encoding {
    /// From a `content-encoding` header value; absent means identity.
    pub fn from_header(value: Option<&str>) -> Result<Encoding, DecodeError> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("identity") => Ok(Encoding::Identity),
            Some("zstd") => Ok(Encoding::Zstd),
            Some("gzip") | Some("x-gzip") => Ok(Encoding::Gzip),
            Some("deflate") => Ok(Encoding::Deflate),
            Some(other) => Err(DecodeError::Unsupported(other.to_string())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Zstd => "zstd",
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
        }
    }

    /// Decodes `body`, refusing output over `limit` bytes. An unencoded body (most
    /// of them) is the same bytes, not a copy.
    pub fn decode(self, body: &Bytes, limit: usize) -> Result<Bytes, DecodeError> {
        let reader: Box<dyn Read + '_> = match self {
            Encoding::Identity => return Ok(body.clone()),
            Encoding::Zstd => {
                Box::new(zstd::stream::read::Decoder::new(&body[..]).map_err(|e| {
                    DecodeError::Corrupt {
                        encoding: "zstd",
                        cause: e.to_string(),
                    }
                })?)
            }
            Encoding::Gzip => Box::new(flate2::read::GzDecoder::new(&body[..])),
            Encoding::Deflate => Box::new(flate2::read::ZlibDecoder::new(&body[..])),
        };
        let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
        let read = reader
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| DecodeError::Corrupt {
                encoding: self.name(),
                cause: e.to_string(),
            })?;
        if read > limit {
            return Err(DecodeError::TooLarge { limit });
        }
        Ok(out.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn zstd_and_gzip_decode() {
        let text = b"{\"model\":\"m\",\"input\":[]}".repeat(50);
        let z = zstd::encode_all(&text[..], 3).unwrap();
        assert_eq!(Encoding::Zstd.decode(&z.into(), 1 << 20).unwrap(), text);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text).unwrap();
        assert_eq!(
            Encoding::Gzip
                .decode(&gz.finish().unwrap().into(), 1 << 20)
                .unwrap(),
            text
        );
    }

    #[test]
    fn header_values() {
        assert_eq!(Encoding::from_header(None).unwrap(), Encoding::Identity);
        assert_eq!(
            Encoding::from_header(Some(" ZSTD ")).unwrap(),
            Encoding::Zstd
        );
        assert!(matches!(
            Encoding::from_header(Some("br")),
            Err(DecodeError::Unsupported(e)) if e == "br"
        ));
    }

    #[test]
    fn bombs_and_garbage_are_refused() {
        let zeros = vec![0u8; 1 << 20];
        let z = zstd::encode_all(&zeros[..], 3).unwrap();
        assert_eq!(
            Encoding::Zstd.decode(&z.into(), 1000),
            Err(DecodeError::TooLarge { limit: 1000 })
        );
        assert!(matches!(
            Encoding::Zstd.decode(&Bytes::from_static(b"not zstd at all"), 1000),
            Err(DecodeError::Corrupt { .. })
        ));
        assert!(matches!(
            Encoding::Gzip.decode(&Bytes::from_static(b"not gzip"), 1000),
            Err(DecodeError::Corrupt { .. })
        ));
    }
}
