//! Detached signatures over the manifests: checksums prove fixity, a
//! signature proves who wrote them. minisign (verify with `minisign -V`) or
//! an OpenSSH key (verify with `ssh-keygen -Y verify -n file`).

use anyhow::{bail, Context, Result};
use archive_core::Failure;
use std::path::{Path, PathBuf};
use std::process::Command;

pub enum Signer {
    Minisign(Box<minisign::SecretKey>),
    Ssh(PathBuf),
}

impl Signer {
    /// Load the key named by `--sign`; the kind is recognised by its text.
    pub fn load(path: &Path) -> Result<Signer> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading signing key {}", path.display()))
            .map_err(|e| Failure::usage(format!("{e:#}")))?;
        if text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") {
            return Ok(Signer::Ssh(path.to_path_buf()));
        }
        let sk = load_minisign_key(&text).map_err(|e| {
            Failure::usage(format!(
                "{}: cannot open the minisign secret key (set MINISIGN_PASSWORD for an encrypted key): {e:#}",
                path.display()
            ))
        })?;
        Ok(Signer::Minisign(Box::new(sk)))
    }

    /// Suffix of the signature file next to the signed file.
    pub fn suffix(&self) -> &'static str {
        match self {
            Signer::Minisign(_) => crate::tree::MINISIG_SUFFIX,
            Signer::Ssh(_) => ".sig",
        }
    }

    /// The signature file's content for `data`, signed as file `name`.
    /// The content is streamed (minisign signs a BLAKE2b prehash).
    pub fn sign(&self, name: &str, data: impl std::io::Read) -> Result<Vec<u8>> {
        match self {
            Signer::Minisign(sk) => {
                let trusted = format!(
                    "timestamp:{}\tfile:{name}\thashed",
                    chrono::Utc::now().timestamp()
                );
                let sig = minisign::sign(None, sk, data, Some(&trusted), None)
                    .map_err(|e| anyhow::anyhow!("minisign signing {name}: {e}"))?;
                Ok(sig.into_string().into_bytes())
            }
            Signer::Ssh(key) => ssh_sign(key, name, data),
        }
    }
}

/// Open a minisign secret key file. Unencrypted keys (`minisign -G -W`,
/// KDF algorithm zero) are read directly: the crate's checksum test rejects
/// the ones minisign 0.11 writes. Encrypted keys go through the crate with
/// the password from MINISIGN_PASSWORD; a password is always passed because
/// with none the crate prompts on the terminal.
fn load_minisign_key(text: &str) -> Result<minisign::SecretKey> {
    use base64::Engine;
    let encoded = text
        .lines()
        .nth(1)
        .context("missing the key line after the comment")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .context("the key line is not base64")?;
    if raw.len() < 4 || &raw[..2] != b"Ed" {
        bail!("not an Ed25519 minisign secret key");
    }
    if raw[2..4] == [0, 0] {
        return minisign::SecretKey::from_bytes(&raw).map_err(|e| anyhow::anyhow!("{e}"));
    }
    let password = std::env::var("MINISIGN_PASSWORD").unwrap_or_default();
    minisign::SecretKey::from_box(minisign::SecretKeyBox::from_string(text)?, Some(password))
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn ssh_sign(key: &Path, name: &str, mut data: impl std::io::Read) -> Result<Vec<u8>> {
    // ssh-keygen signs a named file and writes `<file>.sig` beside it; an
    // anonymous directory that removes itself holds both.
    let tmp = tempfile::tempdir().context("creating a temporary directory to sign in")?;
    let file = tmp.path().join(name);
    std::io::copy(&mut data, &mut std::fs::File::create(&file)?)?;
    let out = Command::new("ssh-keygen")
        .args(["-q", "-Y", "sign", "-n", "file", "-f"])
        .arg(key)
        .arg(&file)
        .output()
        .context("running ssh-keygen -Y sign")?;
    if !out.status.success() {
        bail!(
            "ssh-keygen -Y sign failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut sig = file.into_os_string();
    sig.push(".sig");
    Ok(std::fs::read(PathBuf::from(sig))?)
}

/// Check a minisign signature over `data` with a public key file.
pub fn verify_minisign(public_key: &Path, sig_text: &str, data: &[u8]) -> Result<()> {
    let pk = minisign::PublicKey::from_file(public_key).map_err(|e| {
        Failure::usage(format!(
            "{}: not a minisign public key: {e}",
            public_key.display()
        ))
    })?;
    let sig = minisign::SignatureBox::from_string(sig_text)
        .map_err(|e| anyhow::anyhow!("not a minisign signature: {e}"))?;
    minisign::verify(&pk, &sig, std::io::Cursor::new(data), true, false, false)
        .map_err(|e| anyhow::anyhow!("{e}"))
}
