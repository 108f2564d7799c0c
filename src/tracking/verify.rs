//! Does this post carry this creator's content? Only if the watermark in its
//! media decodes to content the same creator enrolled, and the post's author is a social
//! account that creator has proven to own.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use url::Url;

use crate::domain::{Content, ContentId, CreatorId, Evidence, Platform, Post, SocialAccount};
use crate::media::fingerprint::Fingerprint;
use crate::media::image_io::ImageLimits;
use crate::media::kept::Kept;
use crate::media::recognize::{self, Binding, Examined, Found};
use crate::media::video::VideoSettings;
use crate::platforms::fetcher::MediaFetcher;
use crate::platforms::start_gate::StartGate;
use crate::platforms::Observation;

use crate::store::Store;
use crate::watermark::Key;

/// Most pictures of one post checked for the mark: a video's cover and file, or the slides of
/// an album (Instagram allows up to 20; the creator's content is rarely past the tenth).
const MAX_MEDIA_CHECKED: usize = 10;
/// Most of a creator's contents (the newest) whose fingerprints an unmarked post is held
/// against, when the post names none: the comparison opens each content's sealed value.
pub const MAX_CONTENTS_FINGERPRINTED: u32 = 1000;

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Verified {
        evidence: Evidence,
        content_id: ContentId,
    },
    /// Not proven this time (no mark found, media unreachable...): counts as an attempt.
    NotYet(String),
    /// Proven wrong: another account posted it, or it carries someone else's content.
    Rejected(String),
    /// No mark, but the media match the fingerprint of the creator's own content: not proof
    /// (the watermark is), so an admin decides. `evidence` names the media that matched.
    Review {
        content_id: ContentId,
        evidence: Evidence,
        reason: String,
    },
}

/// Whose content a post's marks name.
enum Owner {
    /// The creator's: the first mark that names their content, and that content.
    Theirs(Found, Content),
    /// Only other creators'.
    Others,
    /// No enrolled content.
    Nobody,
}

/// Whether a post's media carry the creator's content.
#[derive(Debug, Clone, PartialEq)]
pub enum Carried {
    Yes(ContentId),
    /// Media were read and none carries the creator's content.
    No,
    /// No media could be read: ask again another time.
    Unknown(String),
}

/// Why no mark was found: `media_read` when some media decoded and held none, with the
/// fingerprints of each of those (and its SHA-256).
struct MarkMissing {
    reason: String,
    media_read: bool,
    unmarked: Vec<(String, Vec<Fingerprint>)>,
}

/// What a check needs, shared by all polls of a worker.
pub struct Verifier {
    pub store: Arc<dyn Store>,
    pub fetcher: MediaFetcher,
    pub key: Key,
    pub limits: ImageLimits,
    /// Video posts whose media URL gives the video file are checked from its frames.
    pub video: VideoSettings,
    /// Bounds concurrent decoding and detection (memory and CPU).
    pub media_permits: Arc<Semaphore>,
}

impl Verifier {
    pub async fn check(
        &self,
        gate: &dyn StartGate,
        post: &Post,
        account: &SocialAccount,
        seen: &Observation,
    ) -> Verdict {
        match seen.author_handle.as_deref() {
            Some(author) if author != account.handle => {
                return Verdict::Rejected("posted by an account other than the one registered".into())
            }
            None => return Verdict::NotYet("the platform did not say who posted it".into()),
            Some(_) => {}
        }
        if account.proven_at.is_none() || account.creator_id != post.creator_id {
            return Verdict::Rejected("the account is not proven to belong to this creator".into());
        }
        match self.first_marked(gate, post.platform, &seen.media_urls).await {
            Ok((marks, digest)) => self.attribute(post, marks, digest).await,
            Err(missing) => self.resembles(post, missing).await,
        }
    }

    /// Media without a mark: held against the fingerprints of the content the post names, or
    /// else of the creator's newest contents. The closest match within PDQ's threshold sends
    /// the post to review; no match leaves it unproven.
    async fn resembles(&self, post: &Post, missing: MarkMissing) -> Verdict {
        if missing.unmarked.iter().all(|(_, prints)| prints.is_empty()) {
            return Verdict::NotYet(missing.reason);
        }
        let candidates = match post.content_id {
            Some(named) => self.kept_of(named).await,
            None => self.store.kept_of_creator(post.creator_id, MAX_CONTENTS_FINGERPRINTED).await,
        };
        let Ok(candidates) = candidates else {
            return Verdict::NotYet("content lookup failed".into());
        };
        // The closest of the media's fingerprints to any content's, within the threshold.
        let mut best: Option<(u32, ContentId, &String)> = None;
        for (content_id, bytes) in &candidates {
            let Some(theirs) = Kept::from_bytes(bytes).map(|kept| kept.fingerprints) else {
                continue;
            };
            for (digest, prints) in &missing.unmarked {
                for distance in prints.iter().filter_map(|p| p.nearest_match(&theirs)) {
                    if best.is_none_or(|(closest, ..)| distance < closest) {
                        best = Some((distance, *content_id, digest));
                    }
                }
            }
        }
        match best {
            Some((distance, content_id, digest)) => Verdict::Review {
                content_id,
                evidence: Evidence { verified_at: chrono::Utc::now(), media_sha256: digest.clone(), score: 0.0 },
                reason: format!(
                    "no watermark found; the media match content {content_id} at fingerprint distance {distance} of {}",
                    crate::media::fingerprint::FINGERPRINT_BITS
                ),
            },
            None => Verdict::NotYet(missing.reason),
        }
    }

    /// What is kept of one content, as [`Store::kept_of_creator`] lists it.
    async fn kept_of(&self, id: ContentId) -> crate::store::StoreResult<Vec<(ContentId, Vec<u8>)>> {
        let Some(content) = self.store.content(id).await? else {
            return Ok(Vec::new());
        };
        Ok(self.store.content_references(&content).await?.map(|kept| vec![(id, kept)]).unwrap_or_default())
    }

    /// Whether the media carry content `creator` enrolled: what a scan of the creator's own
    /// account asks of a post it finds. The full check (binding, author) runs when the post
    /// is polled.
    pub async fn carries_content_of(
        &self,
        gate: &dyn StartGate,
        platform: Platform,
        creator: CreatorId,
        urls: &[Url],
    ) -> Carried {
        let marks = match self.first_marked(gate, platform, urls).await {
            Ok((marks, _)) => marks,
            Err(MarkMissing { media_read: true, .. }) => return Carried::No,
            Err(MarkMissing { reason, .. }) => return Carried::Unknown(reason),
        };
        match self.whose(creator, marks).await {
            Ok(Owner::Theirs(_, content)) => Carried::Yes(content.id),
            Ok(Owner::Others | Owner::Nobody) => Carried::No,
            Err(()) => Carried::Unknown("content lookup failed".into()),
        }
    }

    /// The marks of the first of the media (at most [`MAX_MEDIA_CHECKED`]) that carries
    /// any, best first, with its SHA-256; or why none did.
    async fn first_marked(
        &self,
        gate: &dyn StartGate,
        platform: Platform,
        urls: &[Url],
    ) -> Result<(Vec<Found>, String), MarkMissing> {
        let mut missing = MarkMissing {
            reason: "the post has no picture to check".to_owned(),
            media_read: false,
            unmarked: Vec::new(),
        };
        for url in urls.iter().take(MAX_MEDIA_CHECKED) {
            let media = match self.fetcher.fetch(gate, platform, url).await {
                Ok(media) => media,
                Err(e) => {
                    missing.reason = format!("media fetch: {e}");
                    continue;
                }
            };
            let digest = hex::encode(Sha256::digest(&media.bytes));
            match self.examine(media.bytes).await {
                Ok(examined) if !examined.marks.is_empty() => return Ok((examined.marks, digest)),
                Ok(examined) => {
                    missing.reason = "no watermark found in the media".into();
                    missing.media_read = true;
                    missing.unmarked.push((digest, examined.fingerprints));
                }
                Err(reason) => missing.reason = reason,
            }
        }
        Err(missing)
    }

    async fn examine(&self, bytes: Vec<u8>) -> Result<Examined, String> {
        let _permit = self.media_permits.acquire().await.map_err(|_| "shutting down".to_owned())?;
        let (key, limits, video) = (self.key.clone(), self.limits, self.video.clone());
        let started = std::time::Instant::now();
        let deadline = video.deadline();
        let found = tokio::task::spawn_blocking(move || {
            deadline
                .scope(|| recognize::examine_bytes(&bytes, &limits, &video, &key))
                .map_err(|e| format!("media: {e}"))
        })
        .await
        .map_err(|_| "detection failed".to_owned())?;
        metrics::histogram!("viewmark_detection_seconds").record(started.elapsed().as_secs_f64());
        found
    }

    /// Whose enrolled content the marks name: a collage or a duet carries several
    /// creators' contents, and any of them may be `creator`'s. `Err` if a lookup failed.
    async fn whose(&self, creator: CreatorId, marks: Vec<Found>) -> Result<Owner, ()> {
        let mut owner = Owner::Nobody;
        for found in marks {
            match self.store.content_by_payload(found.detection.payload).await {
                Ok(Some(content)) if content.creator_id == creator => {
                    return Ok(Owner::Theirs(found, content))
                }
                Ok(Some(_)) => owner = Owner::Others,
                Ok(None) => {}
                Err(_) => return Err(()),
            }
        }
        Ok(owner)
    }

    /// The post is the creator's if one of the marks (a collage or a duet carries several
    /// creators' contents) names content they enrolled, and the media shows that content.
    async fn attribute(&self, post: &Post, marks: Vec<Found>, media_sha256: String) -> Verdict {
        let (found, content) = match self.whose(post.creator_id, marks).await {
            Ok(Owner::Theirs(found, content)) => (found, content),
            Ok(Owner::Others) => {
                return Verdict::Rejected("the media carries another creator's content".into())
            }
            Ok(Owner::Nobody) => return Verdict::NotYet("the watermark names no enrolled content".into()),
            Err(()) => return Verdict::NotYet("content lookup failed".into()),
        };
        let detection = found.detection;
        if post.content_id.is_some_and(|named| named != content.id) {
            return Verdict::Rejected("the media carries different content than the post names".into());
        }
        // The mark is the creator's; is the picture under it their content too?
        let references = match self.store.content_references(&content).await {
            Ok(references) => references,
            Err(_) => return Verdict::NotYet("content lookup failed".into()),
        };
        if let Binding::Transplanted(_) = recognize::binding(&found, references.as_deref()) {
            return Verdict::Rejected(
                "the watermark was copied onto other media: the media does not show the enrolled content"
                    .into(),
            );
        }
        let evidence =
            Evidence { verified_at: chrono::Utc::now(), media_sha256, score: f64::from(detection.score) };
        Verdict::Verified { evidence, content_id: content.id }
    }
}
