//! Files uploaded for import, held between the upload and the commit (the mapping and preview
//! steps read them again).
//!
//! They live in this process's memory, not in the database: an upload is a few seconds to a
//! few minutes of one person's work, and the file is the largest thing the server handles.
//! Hence the limits: an upload expires after [`PendingUploads::TTL_MILLIS`], each user keeps at
//! most [`PendingUploads::PER_USER`] (the oldest goes first), and all uploads together stay
//! under [`PendingUploads::TOTAL_BYTES`] (the oldest anyone's goes first). An upload is only
//! visible to the user who sent it, by a random token.
//!
//! With several `hatake serve` processes behind one address, the steps of one import must
//! reach the same process (sticky sessions); otherwise the next step says the upload has
//! expired and asks for the file again. Nothing is lost but the person's time.

use axum::body::Bytes;
use std::collections::HashMap;
use std::sync::Mutex;

/// One uploaded file.
#[derive(Debug, Clone)]
pub struct PendingUpload {
    pub user_id: i64,
    /// The name the browser sent, without any directory part.
    pub file_name: String,
    pub bytes: Bytes,
    pub uploaded_at: i64,
}

#[derive(Debug, Default)]
pub struct PendingUploads {
    entries: Mutex<HashMap<String, PendingUpload>>,
}

impl PendingUploads {
    /// An upload is forgotten an hour after it arrived.
    pub const TTL_MILLIS: i64 = 60 * 60 * 1000;
    /// Uploads each user may have waiting.
    pub const PER_USER: usize = 3;
    /// All waiting uploads together.
    pub const TOTAL_BYTES: usize = 256 * 1024 * 1024;

    /// Keeps an upload and returns its token.
    pub fn insert(&self, upload: PendingUpload) -> String {
        let token = crate::auth::random_token();
        let mut entries = self.lock();
        let now = upload.uploaded_at;
        entries.retain(|_, e| now - e.uploaded_at < Self::TTL_MILLIS);
        while entries.values().filter(|e| e.user_id == upload.user_id).count() >= Self::PER_USER {
            let oldest = oldest_where(&entries, |e| e.user_id == upload.user_id);
            if let Some(key) = oldest {
                entries.remove(&key);
            }
        }
        while !entries.is_empty() && total_bytes(&entries) + upload.bytes.len() > Self::TOTAL_BYTES {
            if let Some(key) = oldest_where(&entries, |_| true) {
                entries.remove(&key);
            }
        }
        entries.insert(token.clone(), upload);
        token
    }

    /// The upload with this token, if it belongs to `user_id` and has not expired.
    pub fn get(&self, token: &str, user_id: i64, now: i64) -> Option<PendingUpload> {
        let entries = self.lock();
        entries.get(token).filter(|e| e.user_id == user_id && now - e.uploaded_at < Self::TTL_MILLIS).cloned()
    }

    /// Takes the upload out (it is being imported), on the same conditions as [`Self::get`].
    pub fn take(&self, token: &str, user_id: i64, now: i64) -> Option<PendingUpload> {
        let mut entries = self.lock();
        let valid = entries.get(token).is_some_and(|e| e.user_id == user_id && now - e.uploaded_at < Self::TTL_MILLIS);
        if valid {
            entries.remove(token)
        } else {
            None
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PendingUpload>> {
        // A panic while holding the lock cannot leave the map half-changed in a way that matters.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn total_bytes(entries: &HashMap<String, PendingUpload>) -> usize {
    entries.values().map(|e| e.bytes.len()).sum()
}

fn oldest_where(entries: &HashMap<String, PendingUpload>, keep: impl Fn(&PendingUpload) -> bool) -> Option<String> {
    entries.iter().filter(|(_, e)| keep(e)).min_by_key(|(_, e)| e.uploaded_at).map(|(k, _)| k.clone())
}

/// The file name without any directory part a browser or tool may send ("C:\\x\\a.csv").
pub fn base_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if cleaned.is_empty() {
        "upload.csv".to_owned()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(user_id: i64, at: i64, size: usize) -> PendingUpload {
        PendingUpload { user_id, file_name: "a.csv".into(), bytes: Bytes::from(vec![b'x'; size]), uploaded_at: at }
    }

    #[test]
    fn uploads_belong_to_their_user_and_expire() {
        let uploads = PendingUploads::default();
        let token = uploads.insert(upload(1, 1_000, 10));
        assert!(uploads.get(&token, 1, 2_000).is_some());
        assert!(uploads.get(&token, 2, 2_000).is_none(), "another user cannot see it");
        assert!(uploads.take(&token, 2, 2_000).is_none(), "nor take it");
        assert!(uploads.get(&token, 1, 1_000 + PendingUploads::TTL_MILLIS).is_none(), "expired");
        assert!(uploads.take(&token, 1, 3_000).is_some());
        assert!(uploads.get(&token, 1, 3_000).is_none(), "taken once");
    }

    #[test]
    fn each_user_keeps_a_few_and_all_stay_under_the_byte_limit() {
        let uploads = PendingUploads::default();
        let first = uploads.insert(upload(1, 1, 10));
        let others: Vec<String> =
            (2..=PendingUploads::PER_USER as i64 + 1).map(|at| uploads.insert(upload(1, at, 10))).collect();
        assert!(uploads.get(&first, 1, 10).is_none(), "the oldest went");
        assert!(others.iter().all(|t| uploads.get(t, 1, 10).is_some()));
        let big = uploads.insert(upload(2, 100, PendingUploads::TOTAL_BYTES - 15));
        assert!(uploads.get(&big, 2, 200).is_some());
        let kept = others.iter().filter(|t| uploads.get(t, 1, 200).is_some()).count();
        assert_eq!(kept, 1, "older uploads made room");
    }

    #[test]
    fn base_names() {
        assert_eq!(base_name("C:\\Users\\me\\展示会.csv"), "展示会.csv");
        assert_eq!(base_name("/tmp/a.csv"), "a.csv");
        assert_eq!(base_name(""), "upload.csv");
    }
}
