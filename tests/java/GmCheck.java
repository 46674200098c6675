// A peer check of the SM2 (SM3withSM2, ID 1234567812345678) certificates, CRLs and OCSP responses the platform
// builds, by BouncyCastle (Debian's bcprov/bcpkix/bcutil), which nobody here wrote. Compiled and run by
// tests/test_gm_bouncycastle.py. Each argument is one check, "<label>=<kind>:<file>,<file>,...", and prints one line
// "<label> OK <detail>" or "<label> FAIL <reason>":
//
//   cert:<cert.der>,<issuer.der>                        X509Certificate.verify with the issuer's key
//   crl:<crl.der>,<issuer.der>                          X509CRL.verify with the issuer's key
//   path:<root.der>,<crl>...,--,<leaf.der>,<sub.der>    CertPathValidator PKIX, revocation on, CRLs given
//   ocsp:<resp.der>,<issuer.der>                        BasicOCSPResp signature (issuer or included responder
//                                                        certificate), CertIDs match the issuer, statuses listed
import java.io.ByteArrayInputStream;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.Security;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertStore;
import java.security.cert.CertificateFactory;
import java.security.cert.CollectionCertStoreParameters;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509CertificateHolder;
import org.bouncycastle.cert.ocsp.BasicOCSPResp;
import org.bouncycastle.cert.ocsp.CertificateStatus;
import org.bouncycastle.cert.ocsp.OCSPResp;
import org.bouncycastle.cert.ocsp.RevokedStatus;
import org.bouncycastle.cert.ocsp.SingleResp;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.operator.DigestCalculatorProvider;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;

public class GmCheck {
    static CertificateFactory factory;

    static byte[] read(String path) throws Exception {
        return Files.readAllBytes(Paths.get(path));
    }

    static X509Certificate cert(String path) throws Exception {
        return (X509Certificate) factory.generateCertificate(new ByteArrayInputStream(read(path)));
    }

    static X509CRL crl(String path) throws Exception {
        return (X509CRL) factory.generateCRL(new ByteArrayInputStream(read(path)));
    }

    static String check(String kind, String[] files) throws Exception {
        switch (kind) {
            case "cert": {
                X509Certificate certificate = cert(files[0]);
                certificate.verify(cert(files[1]).getPublicKey(), "BC");
                return certificate.getSigAlgName() + " " + certificate.getSigAlgOID();
            }
            case "crl": {
                X509CRL list = crl(files[0]);
                list.verify(cert(files[1]).getPublicKey(), "BC");
                int entries = list.getRevokedCertificates() == null ? 0 : list.getRevokedCertificates().size();
                return list.getSigAlgName() + " entries=" + entries;
            }
            case "path": {
                X509Certificate root = cert(files[0]);
                List<Object> crls = new ArrayList<>();
                List<X509Certificate> path = new ArrayList<>();
                boolean chain = false;
                for (int i = 1; i < files.length; i++) {
                    if (files[i].equals("--")) {
                        chain = true;
                    } else if (chain) {
                        path.add(cert(files[i]));
                    } else {
                        crls.add(crl(files[i]));
                    }
                }
                CertPath certPath = factory.generateCertPath(path);
                PKIXParameters parameters = new PKIXParameters(Collections.singleton(new TrustAnchor(root, null)));
                parameters.setRevocationEnabled(true);
                parameters.addCertStore(
                        CertStore.getInstance("Collection", new CollectionCertStoreParameters(crls), "BC"));
                CertPathValidator.getInstance("PKIX", "BC").validate(certPath, parameters);
                return "length=" + path.size();
            }
            case "ocsp": {
                OCSPResp response = new OCSPResp(read(files[0]));
                if (response.getStatus() != OCSPResp.SUCCESSFUL) {
                    throw new Exception("response status " + response.getStatus());
                }
                BasicOCSPResp basic = (BasicOCSPResp) response.getResponseObject();
                X509Certificate issuer = cert(files[1]);
                X509CertificateHolder[] included = basic.getCerts();
                X509Certificate signer = issuer;
                if (included.length > 0) {
                    signer = new JcaX509CertificateConverter().setProvider("BC").getCertificate(included[0]);
                    signer.verify(issuer.getPublicKey(), "BC");
                    if (signer.getExtendedKeyUsage() == null
                            || !signer.getExtendedKeyUsage().contains("1.3.6.1.5.5.7.3.9")) {
                        throw new Exception("the responder certificate is not for OCSP signing");
                    }
                }
                boolean valid = basic.isSignatureValid(
                        new JcaContentVerifierProviderBuilder().setProvider("BC").build(signer));
                if (!valid) {
                    throw new Exception("signature invalid");
                }
                DigestCalculatorProvider digests = new JcaDigestCalculatorProviderBuilder().setProvider("BC").build();
                X509CertificateHolder issuerHolder = new JcaX509CertificateHolder(issuer);
                StringBuilder detail = new StringBuilder(basic.getSignatureAlgOID().getId());
                detail.append(included.length > 0 ? " delegated" : " by-ca");
                for (SingleResp single : basic.getResponses()) {
                    if (!single.getCertID().matchesIssuer(issuerHolder, digests)) {
                        throw new Exception("CertID of another issuer");
                    }
                    BigInteger serial = single.getCertID().getSerialNumber();
                    CertificateStatus status = single.getCertStatus();
                    String said;
                    if (status == CertificateStatus.GOOD) {
                        said = "good";
                    } else if (status instanceof RevokedStatus) {
                        RevokedStatus revoked = (RevokedStatus) status;
                        said = "revoked:" + (revoked.hasRevocationReason() ? revoked.getRevocationReason() : "none");
                    } else {
                        said = "unknown";
                    }
                    detail.append(" ").append(serial.toString(16)).append("=").append(said).append("/")
                            .append(single.getCertID().getHashAlgOID().getId());
                }
                return detail.toString();
            }
            default:
                throw new Exception("unknown check " + kind);
        }
    }

    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        factory = CertificateFactory.getInstance("X.509", "BC");
        for (String arg : args) {
            int equals = arg.indexOf('=');
            int colon = arg.indexOf(':', equals);
            String label = arg.substring(0, equals);
            String kind = arg.substring(equals + 1, colon);
            String[] files = arg.substring(colon + 1).split(",");
            try {
                System.out.println(label + " OK " + check(kind, files));
            } catch (Exception exc) {
                String message = String.valueOf(exc.getMessage()).replace('\n', ' ');
                System.out.println(label + " FAIL " + exc.getClass().getSimpleName() + ": " + message);
            }
        }
    }
}
