import java.io.ByteArrayOutputStream;
import java.io.File;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.Security;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Collection;
import java.util.Date;

import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

import org.bouncycastle.asn1.ASN1Integer;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.ASN1Sequence;
import org.bouncycastle.asn1.ASN1Set;
import org.bouncycastle.asn1.ASN1TaggedObject;
import org.bouncycastle.asn1.cms.ContentInfo;
import org.bouncycastle.asn1.cms.GCMParameters;
import org.bouncycastle.asn1.cms.KeyTransRecipientInfo;
import org.bouncycastle.asn1.cms.RecipientInfo;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaCertStore;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.cms.CMSProcessableFile;
import org.bouncycastle.cms.CMSSignedData;
import org.bouncycastle.cms.CMSSignedDataGenerator;
import org.bouncycastle.cms.CMSTypedData;
import org.bouncycastle.cms.SignerInformation;
import org.bouncycastle.cms.jcajce.JcaSignerInfoGeneratorBuilder;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder;
import org.bouncycastle.crypto.engines.SM2Engine;
import org.bouncycastle.crypto.params.ECPrivateKeyParameters;
import org.bouncycastle.jcajce.provider.asymmetric.util.ECUtil;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;

/**
 * A peer nobody here wrote checks the GB/T 35275 bid files: BouncyCastle (Debian) verifies the detached SignedData,
 * checks the SM3withSM2 signature over the DER signed attributes with its own primitives (the ofdrw way, for the
 * SM2-1 signature OID its CMS layer does not know), opens the SM2 key transport with its raw SM2Engine (C1C3C2, as
 * BC's CMS layer cannot) and decrypts the SM4 content itself; and it signs a detached SignedData of its own for the
 * Python reader.
 *
 * <pre>
 * verify       SIGNATURE CONTENT            → "verified CONTENT-TYPE SIGNATURE-OID"
 * verify-attrs SIGNATURE                    → "verified"
 * open         HEADER CIPHERTEXT KEY OUT    → "opened KEY-TRANSPORT-OID CONTENT-ENCRYPTION-OID" (KEY: PKCS#8 DER)
 * sign         CONTENT FOLDER               → FOLDER/signer.der, FOLDER/content.p7s
 * </pre>
 */
public class GmCmsCheck {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        switch (args[0]) {
            case "verify" -> verify(Path.of(args[1]), new File(args[2]));
            case "verify-attrs" -> verifyAttributes(Path.of(args[1]));
            case "open" -> open(Path.of(args[1]), Path.of(args[2]), Path.of(args[3]), Path.of(args[4]));
            case "sign" -> sign(new File(args[1]), Path.of(args[2]));
            default -> throw new IllegalArgumentException("unknown command " + args[0]);
        }
    }

    private static X509Certificate certificateOf(CMSSignedData signed, SignerInformation signer) throws Exception {
        @SuppressWarnings("unchecked")
        Collection<X509CertificateHolder> matches = signed.getCertificates().getMatches(signer.getSID());
        if (matches.size() != 1) {
            throw new IllegalStateException("signer certificate not found");
        }
        return new JcaX509CertificateConverter().setProvider("BC").getCertificate(matches.iterator().next());
    }

    private static void verify(Path signature, File content) throws Exception {
        CMSSignedData signed = new CMSSignedData(new CMSProcessableFile(content), Files.readAllBytes(signature));
        for (SignerInformation signer : signed.getSignerInfos().getSigners()) {
            X509Certificate certificate = certificateOf(signed, signer);
            if (!signer.verify(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(certificate))) {
                throw new IllegalStateException("signature does not verify");
            }
            System.out.println("verified " + signed.getSignedContentTypeOID() + " " + signer.getEncryptionAlgOID());
        }
    }

    private static void verifyAttributes(Path signature) throws Exception {
        CMSSignedData signed = new CMSSignedData(Files.readAllBytes(signature));
        for (SignerInformation signer : signed.getSignerInfos().getSigners()) {
            Signature sm2 = Signature.getInstance("SM3withSM2", "BC"); // ID 1234567812345678 by default
            sm2.initVerify(certificateOf(signed, signer).getPublicKey());
            sm2.update(signer.getEncodedSignedAttributes());
            if (!sm2.verify(signer.getSignature())) {
                throw new IllegalStateException("signature does not verify");
            }
            System.out.println("verified");
        }
    }

    /** GM/T 0009 SM2Cipher DER SEQUENCE {x, y, C3, C2} → the raw C1 (04||x||y) || C3 || C2 SM2Engine reads. */
    private static byte[] rawCiphertext(byte[] der) throws Exception {
        ASN1Sequence sequence = ASN1Sequence.getInstance(der);
        ByteArrayOutputStream raw = new ByteArrayOutputStream();
        raw.write(4);
        for (int index = 0; index < 2; index++) {
            BigInteger coordinate = ASN1Integer.getInstance(sequence.getObjectAt(index)).getPositiveValue();
            byte[] bytes = coordinate.toByteArray();
            byte[] fixed = new byte[32];
            int length = Math.min(bytes.length, 32);
            System.arraycopy(bytes, bytes.length - length, fixed, 32 - length, length);
            raw.write(fixed);
        }
        raw.write(ASN1OctetString.getInstance(sequence.getObjectAt(2)).getOctets());
        raw.write(ASN1OctetString.getInstance(sequence.getObjectAt(3)).getOctets());
        return raw.toByteArray();
    }

    private static void open(Path header, Path ciphertext, Path keyFile, Path out) throws Exception {
        ContentInfo info = ContentInfo.getInstance(ASN1Primitive.fromByteArray(Files.readAllBytes(header)));
        // EnvelopedData and AuthEnvelopedData both read: version, [originatorInfo], recipientInfos, content info
        ASN1Sequence envelope = ASN1Sequence.getInstance(info.getContent());
        int at = 1;
        if (envelope.getObjectAt(at) instanceof ASN1TaggedObject) {
            at++;
        }
        ASN1Set recipients = ASN1Set.getInstance(envelope.getObjectAt(at).toASN1Primitive());
        KeyTransRecipientInfo recipient = KeyTransRecipientInfo.getInstance(
                RecipientInfo.getInstance(recipients.getObjectAt(0)).getInfo());
        ASN1Sequence contentInfo = ASN1Sequence.getInstance(envelope.getObjectAt(at + 1));
        AlgorithmIdentifier encryption = AlgorithmIdentifier.getInstance(contentInfo.getObjectAt(1));

        PrivateKey key = KeyFactory.getInstance("EC", "BC")
                .generatePrivate(new PKCS8EncodedKeySpec(Files.readAllBytes(keyFile)));
        SM2Engine engine = new SM2Engine(SM2Engine.Mode.C1C3C2);
        engine.init(false, (ECPrivateKeyParameters) ECUtil.generatePrivateKeyParameter(key));
        byte[] raw = rawCiphertext(recipient.getEncryptedKey().getOctets());
        byte[] contentKey = engine.processBlock(raw, 0, raw.length);

        String algorithm = encryption.getAlgorithm().getId();
        Cipher cipher;
        if (algorithm.equals("1.2.156.10197.1.104.2")) {
            byte[] iv = ASN1OctetString.getInstance(encryption.getParameters()).getOctets();
            cipher = Cipher.getInstance("SM4/CBC/PKCS5Padding", "BC");
            cipher.init(Cipher.DECRYPT_MODE, new SecretKeySpec(contentKey, "SM4"), new IvParameterSpec(iv));
            Files.write(out, cipher.doFinal(Files.readAllBytes(ciphertext)));
        } else if (algorithm.equals("1.2.156.10197.1.104.8")) {
            GCMParameters parameters = GCMParameters.getInstance(encryption.getParameters());
            byte[] mac = ASN1OctetString.getInstance(envelope.getObjectAt(envelope.size() - 1)).getOctets();
            cipher = Cipher.getInstance("SM4/GCM/NoPadding", "BC");
            cipher.init(Cipher.DECRYPT_MODE, new SecretKeySpec(contentKey, "SM4"),
                    new GCMParameterSpec(parameters.getIcvLen() * 8, parameters.getNonce()));
            ByteArrayOutputStream plaintext = new ByteArrayOutputStream();
            byte[] part = cipher.update(Files.readAllBytes(ciphertext));
            if (part != null) {
                plaintext.write(part);
            }
            plaintext.write(cipher.doFinal(mac)); // the tag is checked here; nothing is written before it
            Files.write(out, plaintext.toByteArray());
        } else {
            throw new IllegalStateException("unknown content encryption " + algorithm);
        }
        System.out.println("opened " + recipient.getKeyEncryptionAlgorithm().getAlgorithm().getId() + " " + algorithm);
    }

    private static void sign(File content, Path folder) throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC", "BC");
        generator.initialize(new ECGenParameterSpec("sm2p256v1"));
        KeyPair pair = generator.generateKeyPair();
        ContentSigner signer = new JcaContentSignerBuilder("SM3WITHSM2").setProvider("BC").build(pair.getPrivate());
        X500Name name = new X500Name("CN=BouncyCastle SM2 signer,C=CN");
        Date now = new Date();
        X509Certificate certificate = new JcaX509CertificateConverter().setProvider("BC").getCertificate(
                new JcaX509v3CertificateBuilder(name, BigInteger.valueOf(now.getTime()), new Date(now.getTime() - 60_000),
                        new Date(now.getTime() + 86_400_000L), name, pair.getPublic()).build(signer));
        CMSSignedDataGenerator generator2 = new CMSSignedDataGenerator();
        generator2.addSignerInfoGenerator(new JcaSignerInfoGeneratorBuilder(
                new JcaDigestCalculatorProviderBuilder().setProvider("BC").build())
                .build(new JcaContentSignerBuilder("SM3WITHSM2").setProvider("BC").build(pair.getPrivate()), certificate));
        generator2.addCertificates(new JcaCertStore(java.util.List.of(certificate)));
        CMSTypedData data = new CMSProcessableFile(content);
        CMSSignedData signed = generator2.generate(data, false);
        Files.write(folder.resolve("signer.der"), certificate.getEncoded());
        Files.write(folder.resolve("content.p7s"), signed.getEncoded("DER"));
        System.out.println("signed");
    }
}
