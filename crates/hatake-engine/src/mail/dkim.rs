//! DKIM: the organisation's signing key (RSA-2048 or Ed25519, made here or uploaded), the DNS
//! records to publish for it (DKIM, and the SPF and DMARC records that go with it), and the
//! signature every mail carries — over From, To, Subject, Date, Message-ID and, when present,
//! `List-Unsubscribe` and `List-Unsubscribe-Post` (so a relay cannot strip the one-click link
//! without breaking the signature).

use base64::Engine as _;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm, DkimSigningKey,
};
use lettre::message::header::HeaderName;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::EncodePublicKey;
use serde::{Deserialize, Serialize};

/// The setting that holds the DKIM settings (JSON of [`DkimSettings`]).
pub const SETTING_DKIM: &str = "mail.dkim";

/// The signature's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DkimAlgorithm {
    /// RSA-2048 with SHA-256: what every receiver checks.
    Rsa,
    /// Ed25519 (RFC 8463): short and fast; not every receiver checks it yet.
    Ed25519,
}

/// The organisation's DKIM key and where it is published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DkimSettings {
    /// The signing domain (`d=`), normally the sender address's domain.
    pub domain: String,
    /// The selector (`s=`): the key is published at `{selector}._domainkey.{domain}`.
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    /// RSA: PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`); Ed25519: the 32-byte seed, base64.
    pub private_key: String,
}

/// Why a key cannot be used or made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DkimError(pub String);

/// Signing configurations made once from the key: with and without the list headers.
pub struct DkimSigner {
    plain: DkimConfig,
    with_list: DkimConfig,
}

impl std::fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DkimSigner")
    }
}

const SIGNED: [&str; 5] = ["From", "To", "Subject", "Date", "Message-ID"];
const LIST: [&str; 2] = ["List-Unsubscribe", "List-Unsubscribe-Post"];

impl DkimSettings {
    /// A new key for `domain` under `selector`.
    ///
    /// # Errors
    /// When the key cannot be made (RSA key generation failing).
    pub fn generate(domain: &str, selector: &str, algorithm: DkimAlgorithm) -> Result<Self, DkimError> {
        let private_key = match algorithm {
            DkimAlgorithm::Rsa => {
                let mut rng = rand::thread_rng();
                let key = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|e| DkimError(e.to_string()))?;
                key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).map_err(|e| DkimError(e.to_string()))?.to_string()
            }
            DkimAlgorithm::Ed25519 => base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>()),
        };
        let settings =
            Self { domain: domain.trim().to_owned(), selector: selector.trim().to_owned(), algorithm, private_key };
        settings.check()?;
        Ok(settings)
    }

    /// Whether the settings can sign: a domain, a selector and a key of the algorithm.
    ///
    /// # Errors
    /// What is wrong, in English (the pages say it in the user's language).
    pub fn check(&self) -> Result<(), DkimError> {
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        };
        if !name_ok(&self.domain) || !self.domain.contains('.') {
            return Err(DkimError(format!("{}: not a domain name", self.domain)));
        }
        if !name_ok(&self.selector) {
            return Err(DkimError(format!("{}: a selector is letters, digits and hyphens", self.selector)));
        }
        self.public_key().map(|_| ())
    }

    /// The public key as the DNS record carries it (`p=`).
    fn public_key(&self) -> Result<String, DkimError> {
        let engine = base64::engine::general_purpose::STANDARD;
        match self.algorithm {
            DkimAlgorithm::Rsa => {
                let key = rsa::RsaPrivateKey::from_pkcs1_pem(self.private_key.trim())
                    .map_err(|e| DkimError(format!("not an RSA private key in PKCS#1 PEM: {e}")))?;
                let der = key.to_public_key().to_public_key_der().map_err(|e| DkimError(e.to_string()))?;
                Ok(engine.encode(der.as_bytes()))
            }
            DkimAlgorithm::Ed25519 => {
                let seed: [u8; 32] = engine
                    .decode(self.private_key.trim())
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| DkimError("an Ed25519 key is its 32-byte seed in base64".into()))?;
                Ok(engine.encode(ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes()))
            }
        }
    }

    /// Where the DKIM record goes: `{selector}._domainkey.{domain}`.
    pub fn record_name(&self) -> String {
        format!("{}._domainkey.{}", self.selector, self.domain)
    }

    /// The DKIM record's text (a TXT record at [`DkimSettings::record_name`]).
    ///
    /// # Errors
    /// When the key does not parse.
    pub fn record(&self) -> Result<String, DkimError> {
        let kind = match self.algorithm {
            DkimAlgorithm::Rsa => "rsa",
            DkimAlgorithm::Ed25519 => "ed25519",
        };
        Ok(format!("v=DKIM1; k={kind}; p={}", self.public_key()?))
    }

    /// The signer for the mail sender.
    ///
    /// # Errors
    /// When the key does not parse.
    pub fn signer(&self) -> Result<DkimSigner, DkimError> {
        self.check()?;
        let config = |headers: &[&'static str]| -> Result<DkimConfig, DkimError> {
            let algorithm = match self.algorithm {
                DkimAlgorithm::Rsa => DkimSigningAlgorithm::Rsa,
                DkimAlgorithm::Ed25519 => DkimSigningAlgorithm::Ed25519,
            };
            let key = DkimSigningKey::new(self.private_key.trim(), algorithm).map_err(|e| DkimError(e.to_string()))?;
            Ok(DkimConfig::new(
                self.selector.clone(),
                self.domain.clone(),
                key,
                headers.iter().map(|h| HeaderName::new_from_ascii_str(h)).collect(),
                DkimCanonicalization {
                    header: DkimCanonicalizationType::Relaxed,
                    body: DkimCanonicalizationType::Relaxed,
                },
            ))
        };
        let mut with_list: Vec<&'static str> = SIGNED.to_vec();
        with_list.extend(LIST);
        Ok(DkimSigner { plain: config(&SIGNED)?, with_list: config(&with_list)? })
    }
}

impl DkimSigner {
    /// Signs a built message (the list headers too when it has them).
    pub fn sign(&self, message: &mut lettre::Message, has_list_headers: bool) {
        message.sign(if has_list_headers { &self.with_list } else { &self.plain });
    }
}

/// The SPF record to publish for `domain` when mail leaves through `relay` (a suggestion: the
/// relay's provider documents its own `include:`).
pub fn spf_record(relay: Option<&str>) -> String {
    match relay {
        Some(host) => format!("v=spf1 a mx a:{host} ~all"),
        None => "v=spf1 a mx ~all".to_owned(),
    }
}

/// The DMARC record (at `_dmarc.{domain}`) to start with: report only, reports to the domain.
pub fn dmarc_record(domain: &str) -> String {
    format!("v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}; adkim=r; aspf=r")
}

/// The stored settings, if any.
///
/// # Errors
/// When the store fails (settings that do not parse count as none, with a warning).
pub async fn stored(
    store: &(impl hatake_store::SystemStore + ?Sized),
) -> hatake_store::StoreResult<Option<DkimSettings>> {
    let Some(text) = store.get_setting(SETTING_DKIM).await? else { return Ok(None) };
    match serde_json::from_str(&text) {
        Ok(settings) => Ok(Some(settings)),
        Err(error) => {
            tracing::warn!(%error, "the stored DKIM settings do not parse");
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_checked_and_published() {
        let ed = DkimSettings::generate("sample.co.jp", "hatake", DkimAlgorithm::Ed25519).unwrap();
        assert_eq!(ed.record_name(), "hatake._domainkey.sample.co.jp");
        let record = ed.record().unwrap();
        assert!(record.starts_with("v=DKIM1; k=ed25519; p=") && record.len() == "v=DKIM1; k=ed25519; p=".len() + 44);
        assert!(ed.signer().is_ok());
        let wrong = DkimSettings { private_key: "not a key".into(), ..ed.clone() };
        assert!(wrong.check().is_err());
        let bad_domain = DkimSettings { domain: "sample co jp".into(), ..ed.clone() };
        assert!(bad_domain.check().is_err());
        let rsa = DkimSettings::generate("sample.co.jp", "s2026", DkimAlgorithm::Rsa).unwrap();
        assert!(rsa.private_key.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        assert!(rsa.record().unwrap().starts_with("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"));
        assert!(dmarc_record("sample.co.jp").contains("rua=mailto:dmarc-reports@sample.co.jp"));
    }
}
