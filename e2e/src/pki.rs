//! Certificates and keys for one throwaway cluster: a CA, the apiserver's serving
//! certificate, an admin client certificate and the service-account signing key.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

use crate::{Error, Result};

/// PEM material for one cluster. Nothing here leaves the cluster's temp dir.
pub struct ClusterPki {
    /// CA certificate that signed every other certificate (clients trust it).
    pub ca_cert: String,
    /// Serving certificate of kube-apiserver for 127.0.0.1, localhost and the
    /// in-cluster `kubernetes` names.
    pub serving_cert: String,
    /// Private key of [`Self::serving_cert`].
    pub serving_key: String,
    /// Client certificate for `admin` in group `system:masters`.
    pub admin_cert: String,
    /// Private key of [`Self::admin_cert`].
    pub admin_key: String,
    /// Private key that signs service-account tokens.
    pub service_account_key: String,
    /// Public key that verifies service-account tokens.
    pub service_account_pub: String,
}

impl ClusterPki {
    /// Generates fresh material; every cluster gets its own CA.
    pub fn generate() -> Result<Self> {
        let ca = certified_ca()?;

        let serving_key = KeyPair::generate().map_err(pki_error)?;
        let mut serving = CertificateParams::new(vec![
            "localhost".to_string(),
            "kubernetes".to_string(),
            "kubernetes.default".to_string(),
            "kubernetes.default.svc".to_string(),
            "kubernetes.default.svc.cluster.local".to_string(),
            "127.0.0.1".to_string(),
            "10.0.0.1".to_string(),
        ])
        .map_err(pki_error)?;
        serving.distinguished_name = name("kube-apiserver", None);
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving_cert = serving.signed_by(&serving_key, &ca).map_err(pki_error)?;

        let admin_key = KeyPair::generate().map_err(pki_error)?;
        let mut admin = CertificateParams::new(Vec::<String>::new()).map_err(pki_error)?;
        admin.distinguished_name = name("admin", Some("system:masters"));
        admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let admin_cert = admin.signed_by(&admin_key, &ca).map_err(pki_error)?;

        let service_account = KeyPair::generate().map_err(pki_error)?;

        Ok(Self {
            ca_cert: ca.pem(),
            serving_cert: serving_cert.pem(),
            serving_key: serving_key.serialize_pem(),
            admin_cert: admin_cert.pem(),
            admin_key: admin_key.serialize_pem(),
            service_account_key: service_account.serialize_pem(),
            service_account_pub: service_account.public_key_pem(),
        })
    }
}

fn certified_ca() -> Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki_error)?;
    params.distinguished_name = name("fluxrs-e2e-ca", None);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().map_err(pki_error)?;
    CertifiedIssuer::self_signed(params, key).map_err(pki_error)
}

fn name(common_name: &str, organization: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    if let Some(org) = organization {
        dn.push(DnType::OrganizationName, org);
    }
    dn
}

fn pki_error(err: rcgen::Error) -> Error {
    Error::Pki(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_distinct_pem_material() {
        let pki = ClusterPki::generate().unwrap();
        for pem in [&pki.ca_cert, &pki.serving_cert, &pki.admin_cert] {
            assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        }
        assert!(pki.service_account_pub.contains("PUBLIC KEY"));
        assert_ne!(pki.serving_key, pki.admin_key);
    }
}
