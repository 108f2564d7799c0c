//! What is kept of enrolled content to recognise it in media found later: the watermark's
//! references (for the binding check, see `recognize::binding`) and the content's
//! fingerprints (the second binding, see `fingerprint`). The store seals these bytes with
//! the creator's key and erases them with the content.

use super::fingerprint::Fingerprint;

/// The format written now: a version byte, the references' bytes after their length (four
/// bytes, little-endian), a count byte, and that many 32-byte fingerprints. Version 1 is
/// what content enrolled before fingerprints keeps: the references' own bytes, which begin
/// with their own version byte, 1.
const VERSION: u8 = 2;
const REFERENCES_ONLY: u8 = 1;

/// References and fingerprints of one content.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    /// `watermark::references_to_bytes`.
    pub references: Vec<u8>,
    /// One per picture kept (a video's first key frames), where PDQ trusts one.
    pub fingerprints: Vec<Fingerprint>,
}

impl Kept {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = vec![VERSION];
        bytes.extend_from_slice(&(self.references.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&self.references);
        let fingerprints = &self.fingerprints[..self.fingerprints.len().min(255)];
        bytes.push(fingerprints.len() as u8);
        fingerprints.iter().for_each(|f| bytes.extend_from_slice(&f.0));
        bytes
    }

    /// What [`Kept::to_bytes`] wrote, or a version 1 blob (references, no fingerprints);
    /// `None` for anything else.
    pub fn from_bytes(bytes: &[u8]) -> Option<Kept> {
        match *bytes.first()? {
            REFERENCES_ONLY => Some(Kept { references: bytes.to_vec(), fingerprints: Vec::new() }),
            VERSION => {
                let length = u32::from_le_bytes(bytes.get(1..5)?.try_into().ok()?) as usize;
                let references = bytes.get(5..5 + length)?.to_vec();
                let (&count, rest) = bytes.get(5 + length..)?.split_first()?;
                if rest.len() != usize::from(count) * 32 {
                    return None;
                }
                let fingerprints: Option<Vec<Fingerprint>> =
                    rest.chunks_exact(32).map(|c| c.try_into().ok().map(Fingerprint)).collect();
                Some(Kept { references, fingerprints: fingerprints? })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_bytes_round_trip_and_junk_is_refused() {
        let kept =
            Kept { references: vec![1, 0], fingerprints: vec![Fingerprint([7; 32]), Fingerprint([9; 32])] };
        assert_eq!(Kept::from_bytes(&kept.to_bytes()), Some(kept.clone()));
        let mut cut = kept.to_bytes();
        cut.pop();
        assert_eq!(Kept::from_bytes(&cut), None);
        assert_eq!(Kept::from_bytes(&[]), None);
        assert_eq!(Kept::from_bytes(&[3, 0, 0]), None);
    }

    #[test]
    fn content_kept_before_fingerprints_reads_as_references_alone() {
        let references = crate::watermark::references_to_bytes(&[]);
        let kept = Kept::from_bytes(&references).expect("version 1");
        assert_eq!(kept, Kept { references, fingerprints: Vec::new() });
    }
}
