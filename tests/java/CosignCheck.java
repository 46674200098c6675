// A peer check of two-party SM2 (issue 20) by BouncyCastle (Debian's bcprov), which nobody here wrote. Compiled and
// run by tests/test_sm2_cosign.py. Reads one check per line on standard input and prints one line per check:
//
//   <label> verify <spki hex> <message hex> <signature hex>   SM3withSM2, ID 1234567812345678 -> "<label> OK|FAIL"
//   <label> encrypt <point hex> <plaintext hex>               SM2Engine C1C3C2 to the point -> "<label> OK <hex>"
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Security;
import java.security.Signature;
import java.security.SignatureException;
import java.security.spec.X509EncodedKeySpec;

import org.bouncycastle.asn1.gm.GMNamedCurves;
import org.bouncycastle.asn1.x9.X9ECParameters;
import org.bouncycastle.crypto.engines.SM2Engine;
import org.bouncycastle.crypto.params.ECDomainParameters;
import org.bouncycastle.crypto.params.ECPublicKeyParameters;
import org.bouncycastle.crypto.params.ParametersWithRandom;
import org.bouncycastle.jcajce.spec.SM2ParameterSpec;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.util.encoders.Hex;

public class CosignCheck {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        KeyFactory keys = KeyFactory.getInstance("EC", "BC");
        X9ECParameters curve = GMNamedCurves.getByName("sm2p256v1");
        ECDomainParameters domain = new ECDomainParameters(curve.getCurve(), curve.getG(), curve.getN(), curve.getH());
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        String line;
        while ((line = in.readLine()) != null) {
            String[] f = line.trim().split(" ");
            if (f[1].equals("verify")) {
                PublicKey key = keys.generatePublic(new X509EncodedKeySpec(Hex.decode(f[2])));
                Signature verifier = Signature.getInstance("SM3withSM2", "BC");
                verifier.setParameter(new SM2ParameterSpec("1234567812345678".getBytes(StandardCharsets.US_ASCII)));
                verifier.initVerify(key);
                verifier.update(Hex.decode(f[3]));
                boolean valid;
                try {
                    valid = verifier.verify(Hex.decode(f[4]));
                } catch (SignatureException error) {
                    valid = false;
                }
                System.out.println(f[0] + (valid ? " OK" : " FAIL"));
            } else if (f[1].equals("encrypt")) {
                ECPublicKeyParameters key = new ECPublicKeyParameters(curve.getCurve().decodePoint(Hex.decode(f[2])), domain);
                SM2Engine engine = new SM2Engine(SM2Engine.Mode.C1C3C2);
                engine.init(true, new ParametersWithRandom(key, new SecureRandom()));
                byte[] plaintext = Hex.decode(f[3]);
                System.out.println(f[0] + " OK " + Hex.toHexString(engine.processBlock(plaintext, 0, plaintext.length)));
            } else {
                System.out.println(f[0] + " FAIL unknown check " + f[1]);
            }
        }
    }
}
