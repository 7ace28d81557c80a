//! The local certificate authority for TLS (Codex in ChatGPT-login mode refuses
//! plain http). The CA is created once under `$CODEX_PLUS_HOME/ca`; Codex trusts it
//! through `CODEX_CA_CERTIFICATE`. Each start issues a fresh leaf certificate for
//! localhost, 127.0.0.1 and ::1, kept in memory only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("cannot {action} {path}: {cause}")]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: String,
    },
    #[error("certificate error: {0}")]
    Cert(String),
    #[error("the CA key {path} is readable by others (mode {mode:o}); run: chmod 600 {path}")]
    KeyMode { path: PathBuf, mode: u32 },
}

fn cert_err(e: impl std::fmt::Display) -> CaError {
    CaError::Cert(e.to_string())
}

/// Paths of the CA files under a state directory.
pub struct CaFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CaFiles {
    pub fn under(home: &Path) -> CaFiles {
        let dir = home.join("ca");
        CaFiles {
            cert: dir.join("ca.pem"),
            key: dir.join("ca-key.pem"),
        }
    }
}

/// Creates the CA if it does not exist yet; returns its paths either way.
pub fn ensure(home: &Path) -> Result<CaFiles, CaError> {
    let files = CaFiles::under(home);
    if files.cert.exists() && files.key.exists() {
        return Ok(files);
    }
    let dir = files.cert.parent().unwrap_or(home);
    std::fs::create_dir_all(dir).map_err(|e| CaError::Io {
        action: "create",
        path: dir.to_path_buf(),
        cause: e.to_string(),
    })?;
    let key = KeyPair::generate().map_err(cert_err)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "codex-plus local CA");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "codex-plus");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    let cert = params.self_signed(&key).map_err(cert_err)?;
    write_private(&files.key, key.serialize_pem().as_bytes())?;
    std::fs::write(&files.cert, cert.pem()).map_err(|e| CaError::Io {
        action: "write",
        path: files.cert.clone(),
        cause: e.to_string(),
    })?;
    tracing::info!(cert = %files.cert.display(), "created the local certificate authority");
    Ok(files)
}

/// Writes a file that only its owner can read, from the moment it exists.
fn write_private(path: &Path, data: &[u8]) -> Result<(), CaError> {
    let io = |action, e: std::io::Error| CaError::Io {
        action,
        path: path.to_path_buf(),
        cause: e.to_string(),
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| io("create", e))?;
    file.write_all(data).map_err(|e| io("write", e))
}

/// A TLS server configuration with a fresh leaf signed by the local CA.
pub fn server_config(home: &Path) -> Result<Arc<rustls::ServerConfig>, CaError> {
    let files = ensure(home)?;
    check_key_mode(&files.key)?;
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|e| CaError::Io {
            action: "read",
            path: path.to_path_buf(),
            cause: e.to_string(),
        })
    };
    let ca_pem = read(&files.cert)?;
    let ca_key = KeyPair::from_pem(&read(&files.key)?).map_err(cert_err)?;
    let ca_params = CertificateParams::from_ca_cert_pem(&ca_pem).map_err(cert_err)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(cert_err)?;

    let leaf_key = KeyPair::generate().map_err(cert_err)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).map_err(cert_err)?;
    params.subject_alt_names.extend([
        SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
        SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()),
    ]);
    params
        .distinguished_name
        .push(DnType::CommonName, "codex-plus proxy");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(365);
    let leaf = params
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .map_err(cert_err)?;

    // Serve the CA from disk in the chain: it is what clients were told to trust.
    let ca_der = rustls_pemfile::certs(&mut ca_pem.as_bytes())
        .next()
        .ok_or_else(|| cert_err("the CA file holds no certificate"))?
        .map_err(cert_err)?;
    let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), ca_der];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(cert_err)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(cert_err)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(unix)]
fn check_key_mode(path: &Path) -> Result<(), CaError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| CaError::Io {
            action: "stat",
            path: path.to_path_buf(),
            cause: e.to_string(),
        })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(CaError::KeyMode {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_key_mode(_: &Path) -> Result<(), CaError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_with_a_private_key_and_issues_a_leaf() {
        let home = tempfile::tempdir().unwrap();
        let files = ensure(home.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&files.key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let first = std::fs::read(&files.cert).unwrap();
        ensure(home.path()).unwrap();
        assert_eq!(std::fs::read(&files.cert).unwrap(), first, "created once");
        let config = server_config(home.path()).unwrap();
        assert_eq!(config.alpn_protocols[0], b"h2");
    }

    #[cfg(unix)]
    #[test]
    fn a_readable_key_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let files = ensure(home.path()).unwrap();
        std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = server_config(home.path()).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}
