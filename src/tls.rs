//! The rustls client configuration, built here rather than by rumqttc: its native-roots
//! helper panics when one system certificate fails to load.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::usage;

pub struct TlsFiles<'a> {
    pub cafile: Option<&'a Path>,
    pub cert: Option<&'a Path>,
    pub key: Option<&'a Path>,
    pub insecure: bool,
}

pub fn client_config(files: &TlsFiles<'_>) -> anyhow::Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("TLS setup failed: {e}"))?;
    let builder = if files.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        builder.with_root_certificates(roots(files.cafile)?)
    };
    let config = match (files.cert, files.key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert, "--cert")?;
            let key = read_key(key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| usage(format!("--cert and --key do not make a usable pair: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        (Some(_), None) => {
            return Err(usage(
                "--cert needs --key (the client certificate's private key)",
            ))
        }
        (None, Some(_)) => return Err(usage("--key needs --cert (the client certificate)")),
    };
    Ok(Arc::new(config))
}

fn roots(cafile: Option<&Path>) -> anyhow::Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    if let Some(path) = cafile {
        for cert in read_certs(path, "--cafile")? {
            store.add(cert).map_err(|e| {
                usage(format!(
                    "--cafile {}: not a usable CA certificate: {e}",
                    path.display()
                ))
            })?;
        }
        return Ok(store);
    }
    // Certificates that fail to load are skipped; only an empty store is an error.
    let found = rustls_native_certs::load_native_certs();
    store.add_parsable_certificates(found.certs);
    if store.is_empty() {
        anyhow::bail!(
            "no system root certificates found: pass --cafile with the broker's CA certificate"
        );
    }
    Ok(store)
}

fn read(path: &Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    fs::read(path).map_err(|e| {
        usage(format!(
            "cannot read {flag} {}: {}",
            path.display(),
            io_reason(&e)
        ))
    })
}

pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn read_certs(path: &Path, flag: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = read(path, flag)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| usage(format!("{flag} {}: invalid PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(usage(format!(
            "{flag} {}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = read(path, "--key")?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| usage(format!("--key {}: invalid PEM: {e}", path.display())))?
        .ok_or_else(|| {
            usage(format!(
                "--key {}: no PEM private key in it",
                path.display()
            ))
        })
}

/// `--insecure`: accepts any server certificate, but still checks the handshake signatures.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
