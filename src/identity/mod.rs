//! The vault: the box's device identity, kept in `<data dir>/keys/`.
//!
//! - `signing.key`: the ed25519 key that signs sync bundles and download links (PKCS#8
//!   PEM, mode 0600). Its key id is derived from the public key, so anyone holding the
//!   public key can compute it.
//! - `tls.key` / `tls.crt`: a self-signed certificate made with rcgen for the box's
//!   names (hostname, `<name>.local`, `localhost`, its IP addresses), served by the
//!   optional HTTPS listener.
//!
//! - `chain.json`: the public key chain (genesis statement, then one rotation statement
//!   per `venuebox keys rotate`), published beside the sync bundles so a verifier can
//!   follow the box from its first key to its current one. The box id is the key id
//!   of the first key and never changes.
//! - `signing.key.next`: only during a rotation (see [`rotate`]).
//!
//! Both are created on first start and never leave the box: no function here returns
//! private key bytes to a caller outside this module except to build the TLS acceptor,
//! and nothing here logs them. `Debug` on [`Vault`] prints only public parts.
//!
//! Size: about 700 lines of code and 125 of tests: the signing key, its rotation and
//! the key chain are one crash-safe state machine on the same files, kept in one place.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::files;

/// Why the vault could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// A key or certificate file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A key or certificate file exists but cannot be parsed. It is left as it is.
    #[error("{path} is damaged ({reason}); refusing to replace the box's identity silently")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// rcgen or rustls refused.
    #[error("TLS: {0}")]
    Tls(String),
}

/// The box's identity, loaded from (or created in) the data dir.
#[derive(Clone)]
pub struct Vault {
    signing: Arc<SigningKey>,
    tls_cert_pem: String,
    tls_key_pem: Arc<zeroize::Zeroizing<String>>,
    tls_fingerprint: String,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("key_id", &self.key_id())
            .field("tls_fingerprint", &self.tls_fingerprint)
            .finish_non_exhaustive()
    }
}

/// The public facts about a box's identity, as `venuebox keys show` prints them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PublicIdentity {
    /// Key id of the signing key.
    pub key_id: String,
    /// The ed25519 public key, base64 (standard, padded).
    pub public_key: String,
    /// SHA-256 of the TLS certificate (DER), colon-separated hex as browsers show it.
    pub tls_fingerprint: String,
}

/// The key id of an ed25519 public key: `vb1-` and the first 16 bytes of its SHA-256,
/// in hex. Stable, short enough for a manifest, derived only from public data.
pub fn key_id(public: &VerifyingKey) -> String {
    let digest = Sha256::digest(public.as_bytes());
    format!("vb1-{}", hex::encode(&digest[..16]))
}

impl Vault {
    /// Loads the identity from `<data_dir>/keys`, creating what is missing. `box_name`
    /// and the host's names and addresses go into a new certificate.
    pub fn open(data_dir: &Path, box_name: &str) -> Result<Vault, VaultError> {
        let dir = crate::files::layout::keys(data_dir);
        files::create_dir(&dir, 0o700).map_err(|source| VaultError::Io {
            path: dir.clone(),
            source,
        })?;
        finish_rotation(&dir)?;
        let signing = load_or_create_signing_key(&dir.join("signing.key"))?;
        let (tls_cert_pem, tls_key_pem) =
            load_or_create_tls(&dir.join("tls.crt"), &dir.join("tls.key"), box_name)?;
        let tls_fingerprint = fingerprint(&tls_cert_pem, &dir.join("tls.crt"))?;
        Ok(Vault {
            signing: Arc::new(signing),
            tls_cert_pem,
            tls_key_pem: Arc::new(zeroize::Zeroizing::new(tls_key_pem)),
            tls_fingerprint,
        })
    }

    /// Key id of the signing key.
    pub fn key_id(&self) -> String {
        key_id(&self.signing.verifying_key())
    }

    /// The public half of the signing key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// Signs `message` with the box's key.
    pub fn sign(&self, message: &[u8]) -> ed25519_dalek::Signature {
        self.signing.sign(message)
    }

    /// What may be shown about this identity.
    pub fn public_identity(&self) -> PublicIdentity {
        use base64::Engine;
        PublicIdentity {
            key_id: self.key_id(),
            public_key: base64::engine::general_purpose::STANDARD
                .encode(self.signing.verifying_key().as_bytes()),
            tls_fingerprint: self.tls_fingerprint.clone(),
        }
    }

    /// The box's certificate, PEM (public).
    pub fn tls_cert_pem(&self) -> &str {
        &self.tls_cert_pem
    }

    /// A rustls server config serving the box's own certificate.
    pub fn tls_server_config(&self) -> Result<rustls::ServerConfig, VaultError> {
        server_config(self.tls_cert_pem.as_bytes(), self.tls_key_pem.as_bytes())
    }
}

/// A rustls server config from PEM files (an organiser's certificate for a real domain).
pub fn tls_server_config_from_files(
    cert: &Path,
    key: &Path,
) -> Result<rustls::ServerConfig, VaultError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| VaultError::Io {
            path: path.into(),
            source,
        })
    };
    server_config(&read(cert)?, &zeroize::Zeroizing::new(read(key)?))
}

fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<rustls::ServerConfig, VaultError> {
    let certs = rustls_pemfile::certs(&mut &cert_pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| VaultError::Tls(format!("certificate: {e}")))?;
    let key = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| VaultError::Tls(format!("private key: {e}")))?
        .ok_or_else(|| VaultError::Tls("no private key in the key file".into()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| VaultError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| VaultError::Tls(e.to_string()))?;
    Ok(config)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> VaultError + '_ {
    move |source| VaultError::Io {
        path: path.into(),
        source,
    }
}

fn load_or_create_signing_key(path: &Path) -> Result<SigningKey, VaultError> {
    match std::fs::read_to_string(path) {
        Ok(pem) => {
            let pem = zeroize::Zeroizing::new(pem);
            SigningKey::from_pkcs8_pem(&pem).map_err(|e| VaultError::Damaged {
                path: path.into(),
                reason: e.to_string(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SigningKey::generate(&mut rand::rngs::OsRng);
            let pem = key
                .to_pkcs8_pem(Default::default())
                .map_err(|e| VaultError::Tls(e.to_string()))?;
            files::write_atomic(path, pem.as_bytes(), 0o600).map_err(io_err(path))?;
            tracing::info!(key_id = %key_id(&key.verifying_key()), "created the box's signing key");
            Ok(key)
        }
        Err(e) => Err(io_err(path)(e)),
    }
}

/// The names a new certificate is made for: `localhost`, the hostname, `<name>.local`,
/// loopback and every address of the host's interfaces.
fn tls_names(box_name: &str) -> (Vec<String>, Vec<IpAddr>) {
    let mut names = vec!["localhost".to_string(), format!("{box_name}.local")];
    if let Ok(host) = rustix::system::uname().nodename().to_str() {
        let host = host.to_ascii_lowercase();
        if !host.is_empty() && !names.contains(&host) {
            names.push(host);
        }
    }
    let mut ips: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
    for iface in if_addrs::get_if_addrs().unwrap_or_default() {
        let ip = iface.ip();
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    (names, ips)
}

fn load_or_create_tls(
    cert_path: &Path,
    key_path: &Path,
    box_name: &str,
) -> Result<(String, String), VaultError> {
    let cert = std::fs::read_to_string(cert_path);
    let key = std::fs::read_to_string(key_path);
    match (cert, key) {
        (Ok(cert), Ok(key)) => {
            // Check that the pair parses before trusting it.
            server_config(cert.as_bytes(), key.as_bytes()).map_err(|e| VaultError::Damaged {
                path: cert_path.into(),
                reason: e.to_string(),
            })?;
            Ok((cert, key))
        }
        (Err(c), Err(k))
            if c.kind() == std::io::ErrorKind::NotFound
                && k.kind() == std::io::ErrorKind::NotFound =>
        {
            let (names, ips) = tls_names(box_name);
            let mut params = rcgen::CertificateParams::new(names.clone())
                .map_err(|e| VaultError::Tls(e.to_string()))?;
            params
                .subject_alt_names
                .extend(ips.into_iter().map(rcgen::SanType::IpAddress));
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, format!("{box_name}.local"));
            params
                .distinguished_name
                .push(rcgen::DnType::OrganizationName, "venuebox");
            let now = time::OffsetDateTime::now_utc();
            params.not_before = now - time::Duration::days(1);
            params.not_after = now + time::Duration::days(3650);
            let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                .map_err(|e| VaultError::Tls(e.to_string()))?;
            let cert = params
                .self_signed(&key_pair)
                .map_err(|e| VaultError::Tls(e.to_string()))?;
            let key_pem = key_pair.serialize_pem();
            // Key first: a cut between the two writes leaves a key without certificate,
            // which the next start reports instead of pairing a certificate with no key.
            files::write_atomic(key_path, key_pem.as_bytes(), 0o600).map_err(io_err(key_path))?;
            files::write_atomic(cert_path, cert.pem().as_bytes(), 0o644)
                .map_err(io_err(cert_path))?;
            tracing::info!(names = ?names, "created the box's TLS certificate");
            Ok((cert.pem(), key_pem))
        }
        (Err(e), _) => Err(VaultError::Damaged {
            path: cert_path.into(),
            reason: format!("certificate unreadable while its key exists: {e}"),
        }),
        (_, Err(e)) => Err(VaultError::Damaged {
            path: key_path.into(),
            reason: format!("key unreadable while its certificate exists: {e}"),
        }),
    }
}

fn first_cert_der(pem: &str) -> Option<rustls::pki_types::CertificateDer<'static>> {
    rustls_pemfile::certs(&mut pem.as_bytes()).next()?.ok()
}

fn fingerprint(pem: &str, path: &Path) -> Result<String, VaultError> {
    let der = first_cert_der(pem).ok_or_else(|| VaultError::Damaged {
        path: path.into(),
        reason: "no certificate in file".into(),
    })?;
    let digest = Sha256::digest(der.as_ref());
    Ok(digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":"))
}

/// A new random bearer secret: `prefix` then 32 random bytes in URL-safe base64.
/// The prefix (`vbs_` session, `vbu_` upload) tells a leaked secret's kind at a glance.
pub fn random_token(prefix: &str) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// A new admin setup code a person can type: 16 characters of Crockford base32 (80
/// random bits) in groups of four, e.g. `7K2M-Q9XD-4RTA-HB3N`.
pub fn random_setup_code() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut rng = rand::rngs::OsRng;
    let chars: Vec<char> = (0..16)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// The stored form of a bearer token: its SHA-256. A slow password hash buys nothing
/// for 256 random bits and would cost every request time on a Pi.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The stored form of an admin setup code: SHA-256 of the code with case, spaces and
/// hyphens ignored, so `7k2m q9xd ...` typed on a phone still matches. 80 random bits
/// behind a login rate limit need no slow hash.
pub fn setup_code_hash(code: &str) -> [u8; 32] {
    let normalized: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    Sha256::digest(normalized.as_bytes()).into()
}

/// `format` of a key statement.
pub const KEY_STATEMENT_FORMAT: &str = "venuebox-key/1";

/// One link of the box's public key chain: the genesis statement (sequence 0: the
/// box's first key, whose key id is the box id) or a rotation to a new key.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyStatement {
    /// [`KEY_STATEMENT_FORMAT`].
    pub format: String,
    /// The box: key id of its first key.
    pub box_id: String,
    /// 0 for the genesis key, then 1, 2, …
    pub sequence: u64,
    /// Key id of the key this statement introduces.
    pub key_id: String,
    /// That key, ed25519 public key in standard base64.
    pub public_key: String,
    /// The key it replaces (`None` for genesis).
    pub previous_key_id: Option<String>,
    /// The first bundle sequence this key signs; the previous key signs none from here on.
    pub from_bundle: u64,
    /// Seconds since the epoch.
    pub at: i64,
}

/// A statement with its signatures, over the statement's canonical (JCS) bytes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    /// What is stated.
    pub statement: KeyStatement,
    /// By the key introduced (proof of possession), standard base64.
    pub signed_by_new: String,
    /// By the key replaced (authorises the rotation); `None` for genesis.
    pub signed_by_previous: Option<String>,
}

/// A key of a verified chain.
#[derive(Debug, Clone)]
pub struct ChainKey {
    /// Its key id.
    pub key_id: String,
    /// The public key.
    pub key: VerifyingKey,
    /// First bundle it may sign.
    pub from_bundle: u64,
}

fn statement_bytes(statement: &KeyStatement) -> Vec<u8> {
    serde_json_canonicalizer::to_vec(statement).expect("statement serialises")
}

fn b64_sign(key: &SigningKey, bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(key.sign(bytes).to_bytes())
}

fn b64_verify(key: &VerifyingKey, bytes: &[u8], signature: &str) -> bool {
    use base64::Engine;
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(signature) else {
        return false;
    };
    let Ok(raw) = <[u8; 64]>::try_from(raw) else {
        return false;
    };
    key.verify_strict(bytes, &ed25519_dalek::Signature::from_bytes(&raw))
        .is_ok()
}

fn parse_public_key(b64: &str) -> Option<VerifyingKey> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    VerifyingKey::from_bytes(&raw.try_into().ok()?).ok()
}

/// Checks a key chain from its genesis: sequences 0, 1, 2…, one box id equal to the
/// first key's id, every key id derived from its key, every statement signed by the
/// new key and (after genesis) by the previous one, `from_bundle` never going back.
/// Returns the keys in order, or what is wrong with which statement.
pub fn verify_chain(records: &[KeyRecord]) -> Result<Vec<ChainKey>, (u64, String)> {
    let mut keys: Vec<ChainKey> = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let s = &record.statement;
        let i = i as u64;
        let fail = |why: &str| Err((i, why.to_string()));
        if s.format != KEY_STATEMENT_FORMAT {
            return fail("unknown statement format");
        }
        if s.sequence != i {
            return fail("statement out of sequence");
        }
        let Some(key) = parse_public_key(&s.public_key) else {
            return fail("public key is not an ed25519 key");
        };
        if key_id(&key) != s.key_id {
            return fail("key id does not match the public key");
        }
        let bytes = statement_bytes(s);
        if !b64_verify(&key, &bytes, &record.signed_by_new) {
            return fail("not signed by the key it introduces");
        }
        match keys.last() {
            None => {
                if s.box_id != s.key_id || s.previous_key_id.is_some() {
                    return fail("genesis key id is not the box id");
                }
            }
            Some(previous) => {
                if s.box_id != keys[0].key_id {
                    return fail("statement of another box");
                }
                if s.previous_key_id.as_deref() != Some(previous.key_id.as_str()) {
                    return fail("does not rotate from the previous key");
                }
                if s.from_bundle < previous.from_bundle {
                    return fail("from_bundle goes back");
                }
                let signed = record
                    .signed_by_previous
                    .as_deref()
                    .is_some_and(|sig| b64_verify(&previous.key, &bytes, sig));
                if !signed {
                    return fail("rotation not signed by the previous key");
                }
            }
        }
        keys.push(ChainKey {
            key_id: s.key_id.clone(),
            key,
            from_bundle: s.from_bundle,
        });
    }
    if keys.is_empty() {
        return Err((0, "no genesis key statement".into()));
    }
    Ok(keys)
}

/// Every public key this box has signed with, from its chain
/// (`<data_dir>/keys/chain.json`, verified with [`verify_chain`]), genesis first; empty
/// while the box has no chain yet (it starts with the first bundle). A download link
/// signed before a `keys rotate` stays verifiable by the key that signed it.
/// Errors: the chain cannot be read ([`VaultError::Io`]) or is damaged or does not
/// verify ([`VaultError::Damaged`]).
pub fn chain_keys(data_dir: &Path) -> Result<Vec<ChainKey>, VaultError> {
    let dir = crate::files::layout::keys(data_dir);
    let Some(records) = read_chain(&dir)? else {
        return Ok(Vec::new());
    };
    verify_chain(&records).map_err(|(i, why)| VaultError::Damaged {
        path: chain_path(&dir),
        reason: format!("statement {i}: {why}"),
    })
}

/// The key of a verified chain that may sign bundle `sequence`.
pub fn key_for_bundle(chain: &[ChainKey], sequence: u64) -> Option<&ChainKey> {
    chain.iter().rev().find(|k| k.from_bundle <= sequence)
}

/// What the sync worker signs bundles with: the current key, read from disk at each
/// cut (so a `keys rotate` run beside the service takes effect at once), and the chain.
pub struct BundleSigner {
    key: SigningKey,
    /// The public key chain, genesis first.
    pub chain: Vec<KeyRecord>,
}

impl fmt::Debug for BundleSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BundleSigner")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl BundleSigner {
    /// The box id (first key's id).
    pub fn box_id(&self) -> &str {
        &self.chain[0].statement.box_id
    }
    /// Key id of the current key.
    pub fn key_id(&self) -> String {
        key_id(&self.key.verifying_key())
    }
    /// Signs with the current key.
    pub fn sign(&self, message: &[u8]) -> ed25519_dalek::Signature {
        self.key.sign(message)
    }
}

fn chain_path(dir: &Path) -> PathBuf {
    dir.join("chain.json")
}

fn read_chain(dir: &Path) -> Result<Option<Vec<KeyRecord>>, VaultError> {
    let path = chain_path(dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| VaultError::Damaged {
                path,
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&path)(e)),
    }
}

fn write_chain(dir: &Path, chain: &[KeyRecord]) -> Result<(), VaultError> {
    let path = chain_path(dir);
    let bytes = serde_json::to_vec_pretty(chain).expect("chain serialises");
    files::write_atomic(&path, &bytes, 0o644).map_err(io_err(&path))
}

use crate::clock::now;

/// The chain on disk, or a new one holding the genesis statement of `current`.
fn load_or_start_chain(dir: &Path, current: &SigningKey) -> Result<Vec<KeyRecord>, VaultError> {
    if let Some(chain) = read_chain(dir)? {
        return Ok(chain);
    }
    use base64::Engine;
    let id = key_id(&current.verifying_key());
    let statement = KeyStatement {
        format: KEY_STATEMENT_FORMAT.into(),
        box_id: id.clone(),
        sequence: 0,
        key_id: id,
        public_key: base64::engine::general_purpose::STANDARD
            .encode(current.verifying_key().as_bytes()),
        previous_key_id: None,
        from_bundle: 1,
        at: now(),
    };
    let chain = vec![KeyRecord {
        signed_by_new: b64_sign(current, &statement_bytes(&statement)),
        signed_by_previous: None,
        statement,
    }];
    write_chain(dir, &chain)?;
    Ok(chain)
}

fn read_signing_key(path: &Path) -> Result<SigningKey, VaultError> {
    let pem = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(io_err(path))?);
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| VaultError::Damaged {
        path: path.into(),
        reason: e.to_string(),
    })
}

/// The host name's stem; the box id's suffix follows a hyphen (RFC 1123 host name
/// rules: at most 63 letters, digits and hyphens). Also the shipped `box.name`.
pub const HOST_STEM: &str = "venuebox";

/// The four-hex-digit suffix of a box id such as `vb1-3fa2…` (lowercase), which makes
/// the box's names unique at a market without the internet (`hw::names`, mDNS). `None`
/// if the id does not have that shape.
pub fn box_suffix(box_id: &str) -> Option<String> {
    let hex = box_id.strip_prefix("vb1-")?;
    let s = hex.get(..4)?;
    s.chars()
        .all(|c| c.is_ascii_hexdigit())
        .then(|| s.to_ascii_lowercase())
}

/// The box's unique host name for `suffix` (from [`box_suffix`]): `venuebox-<suffix>`.
pub fn unique_host_name(suffix: &str) -> String {
    format!("{HOST_STEM}-{suffix}")
}

/// The box id: the key id of the first key in the chain (the current key's id while
/// the box has never rotated). Reads only; never starts a chain.
pub fn box_id(data_dir: &Path) -> Result<String, VaultError> {
    let dir = crate::files::layout::keys(data_dir);
    if let Some(first) = read_chain(&dir)?.and_then(|c| c.into_iter().next()) {
        return Ok(first.statement.box_id);
    }
    let key = read_signing_key(&dir.join("signing.key"))?;
    Ok(key_id(&key.verifying_key()))
}

/// Loads the bundle signer from `<data_dir>/keys` (the vault must have been opened
/// once, so the key exists), starting the chain if this is the first bundle.
pub fn bundle_signer(data_dir: &Path) -> Result<BundleSigner, VaultError> {
    let dir = crate::files::layout::keys(data_dir);
    finish_rotation(&dir)?;
    let key = read_signing_key(&dir.join("signing.key"))?;
    let chain = load_or_start_chain(&dir, &key)?;
    if chain.last().map(|r| r.statement.key_id.as_str())
        != Some(key_id(&key.verifying_key()).as_str())
    {
        return Err(VaultError::Damaged {
            path: chain_path(&dir),
            reason: "the current signing key is not the chain's last key".into(),
        });
    }
    Ok(BundleSigner { key, chain })
}

/// Replaces the signing key: makes a new key, appends a rotation statement signed by
/// the old and the new key (the new key signs bundles from `from_bundle` on), then
/// destroys the old private key. Each step is durable before the next, and
/// `finish_rotation` completes or undoes a rotation a power cut interrupted:
/// 1. the new key is written to `signing.key.next`;
/// 2. the statement is appended to `chain.json` (the commit point);
/// 3. `signing.key` is overwritten with zeros and fsynced, then replaced by the new key.
///
/// (Zeroing cannot reach copies an SD card's wear levelling keeps; it is the most a
/// program can do.) Returns the new statement.
pub fn rotate(data_dir: &Path, from_bundle: u64) -> Result<KeyRecord, VaultError> {
    use base64::Engine;
    let dir = crate::files::layout::keys(data_dir);
    finish_rotation(&dir)?;
    let signer = bundle_signer(data_dir)?;
    let old = signer.key;
    let mut chain = signer.chain;
    let new = SigningKey::generate(&mut rand::rngs::OsRng);
    let next = dir.join("signing.key.next");
    let pem = new
        .to_pkcs8_pem(Default::default())
        .map_err(|e| VaultError::Tls(e.to_string()))?;
    files::write_atomic(&next, pem.as_bytes(), 0o600).map_err(io_err(&next))?;
    let last = &chain[chain.len() - 1].statement;
    let statement = KeyStatement {
        format: KEY_STATEMENT_FORMAT.into(),
        box_id: last.box_id.clone(),
        sequence: last.sequence + 1,
        key_id: key_id(&new.verifying_key()),
        public_key: base64::engine::general_purpose::STANDARD
            .encode(new.verifying_key().as_bytes()),
        previous_key_id: Some(last.key_id.clone()),
        from_bundle: from_bundle.max(last.from_bundle),
        at: now(),
    };
    let bytes = statement_bytes(&statement);
    let record = KeyRecord {
        signed_by_new: b64_sign(&new, &bytes),
        signed_by_previous: Some(b64_sign(&old, &bytes)),
        statement,
    };
    chain.push(record.clone());
    write_chain(&dir, &chain)?;
    drop(old);
    finish_rotation(&dir)?;
    tracing::info!(key_id = %record.statement.key_id, "rotated the box's signing key");
    Ok(record)
}

/// Completes a rotation whose statement is in the chain (destroy the old key, install
/// the new one) or undoes one whose statement is not (remove the unused new key).
fn finish_rotation(dir: &Path) -> Result<(), VaultError> {
    let next = dir.join("signing.key.next");
    if !next.exists() {
        return Ok(());
    }
    let new = read_signing_key(&next)?;
    let recorded = read_chain(dir)?.and_then(|c| c.last().map(|r| r.statement.key_id.clone()))
        == Some(key_id(&new.verifying_key()));
    if recorded {
        let current = dir.join("signing.key");
        if let Ok(len) = std::fs::metadata(&current).map(|m| m.len()) {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .open(&current)
                .map_err(io_err(&current))?;
            file.write_all(&vec![0u8; len as usize])
                .and_then(|()| file.sync_all())
                .map_err(io_err(&current))?;
        }
        std::fs::rename(&next, &current).map_err(io_err(&current))?;
    } else {
        std::fs::remove_file(&next).map_err(io_err(&next))?;
    }
    files::sync_dir(dir).map_err(io_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn identity_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let a = Vault::open(dir.path(), "stall-7").unwrap();
        let b = Vault::open(dir.path(), "stall-7").unwrap();
        assert_eq!(a.key_id(), b.key_id());
        assert_eq!(
            a.public_identity().tls_fingerprint,
            b.public_identity().tls_fingerprint
        );
        let mode = |p: &str| {
            std::fs::metadata(dir.path().join("keys").join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("signing.key"), 0o600);
        assert_eq!(mode("tls.key"), 0o600);
        // Signatures verify under the public key.
        let sig = a.sign(b"bundle");
        a.verifying_key().verify_strict(b"bundle", &sig).unwrap();
        // Debug shows no private material.
        let debug = format!("{a:?}");
        assert!(!debug.contains("PRIVATE"), "{debug}");
    }

    #[test]
    fn damaged_key_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        Vault::open(dir.path(), "b").unwrap();
        let key = dir.path().join("keys/signing.key");
        std::fs::write(&key, "garbage").unwrap();
        let err = Vault::open(dir.path(), "b").unwrap_err();
        assert!(matches!(err, VaultError::Damaged { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&key).unwrap(), "garbage");
    }

    #[test]
    fn setup_codes_match_however_typed() {
        let code = random_setup_code();
        assert_eq!(code.len(), 19);
        let typed = code.to_ascii_lowercase().replace('-', " ");
        assert_eq!(setup_code_hash(&code), setup_code_hash(&typed));
        assert_ne!(
            setup_code_hash(&code),
            setup_code_hash(&random_setup_code())
        );
        let token = random_token("vbs_");
        assert_ne!(token_hash(&token), token_hash(&token.to_ascii_uppercase()));
    }

    #[test]
    fn key_id_is_derived_from_the_public_key() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let id = key_id(&key.verifying_key());
        assert!(id.starts_with("vb1-") && id.len() == 4 + 32, "{id}");
        assert_eq!(
            id,
            key_id(&SigningKey::from_bytes(&[7u8; 32]).verifying_key())
        );
    }

    #[test]
    fn rotation_chains_keys_and_destroys_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        Vault::open(dir.path(), "b").unwrap();
        let first = bundle_signer(dir.path()).unwrap();
        let box_id = first.box_id().to_string();
        let old_pem = std::fs::read(dir.path().join("keys/signing.key")).unwrap();
        let record = rotate(dir.path(), 5).unwrap();
        let second = bundle_signer(dir.path()).unwrap();
        assert_eq!(second.box_id(), box_id);
        assert_eq!(second.key_id(), record.statement.key_id);
        assert_ne!(second.key_id(), first.key_id());
        assert_ne!(
            std::fs::read(dir.path().join("keys/signing.key")).unwrap(),
            old_pem
        );
        assert!(!dir.path().join("keys/signing.key.next").exists());
        let chain = verify_chain(&second.chain).unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(key_for_bundle(&chain, 4).unwrap().key_id, first.key_id());
        assert_eq!(key_for_bundle(&chain, 5).unwrap().key_id, second.key_id());
        // A statement not signed by the previous key breaks the chain.
        let mut forged = second.chain.clone();
        forged[1].signed_by_previous = forged[1].signed_by_new.clone().into();
        assert_eq!(verify_chain(&forged).unwrap_err().0, 1);
        // The vault reopens with the new key.
        assert_eq!(
            Vault::open(dir.path(), "b").unwrap().key_id(),
            second.key_id()
        );
    }

    #[test]
    fn a_cut_rotation_is_finished_or_undone() {
        let dir = tempfile::tempdir().unwrap();
        Vault::open(dir.path(), "b").unwrap();
        let before = bundle_signer(dir.path()).unwrap().key_id();
        // Cut before the statement was recorded: the spare key is dropped.
        let spare = SigningKey::generate(&mut rand::rngs::OsRng);
        let next = dir.path().join("keys/signing.key.next");
        std::fs::write(
            &next,
            spare.to_pkcs8_pem(Default::default()).unwrap().as_bytes(),
        )
        .unwrap();
        assert_eq!(Vault::open(dir.path(), "b").unwrap().key_id(), before);
        assert!(!next.exists());
        // Cut after the statement, with the old key already zeroed: finished at open.
        let record = rotate(dir.path(), 1).unwrap();
        let pem = std::fs::read(dir.path().join("keys/signing.key")).unwrap();
        std::fs::write(&next, &pem).unwrap();
        std::fs::write(dir.path().join("keys/signing.key"), vec![0u8; pem.len()]).unwrap();
        assert_eq!(
            Vault::open(dir.path(), "b").unwrap().key_id(),
            record.statement.key_id
        );
    }
}
