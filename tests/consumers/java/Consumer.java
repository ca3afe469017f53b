// A Java application of the token through SunPKCS11, driven by tests/consumers/test_java.py.
//
//   java -cp DIR Consumer CONFIG PIN keypair RSA|EC      KeyPairGenerator and Signature in the
//                                                        token; verified by the JDK's own provider
//   java -cp DIR Consumer CONFIG PIN entry ALIAS         the private key entry ALIAS (keytool's):
//                                                        signs with its key, checks its certificate
//   java -cp DIR Consumer CONFIG PIN import P12 ALIAS    a PKCS#12 key and certificate stored in the
//                                                        token with KeyStore.setKeyEntry, then used
import java.io.FileInputStream;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.PublicKey;
import java.security.Security;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.X509EncodedKeySpec;

public final class Consumer {
    private static final byte[] DATA = "signed in the token through SunPKCS11".getBytes();

    private static String sigAlg(String keyAlg) {
        return keyAlg.equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA";
    }

    /** Signs DATA with the token's key, verifies with the JDK's software provider. */
    private static void signAndCheck(Provider p, PrivateKey priv, PublicKey pub) throws Exception {
        String alg = sigAlg(pub.getAlgorithm());
        Signature s = Signature.getInstance(alg, p);
        s.initSign(priv);
        s.update(DATA);
        byte[] sig = s.sign();
        PublicKey soft = KeyFactory.getInstance(pub.getAlgorithm())
                .generatePublic(new X509EncodedKeySpec(pub.getEncoded()));
        Signature v = Signature.getInstance(alg);
        if (v.getProvider() == p) {
            throw new IllegalStateException("the verifier must not be the token");
        }
        v.initVerify(soft);
        v.update(DATA);
        if (!v.verify(sig)) {
            throw new IllegalStateException(alg + " signature made in the token does not verify");
        }
        System.out.println("verified " + alg + " by " + v.getProvider().getName());
    }

    public static void main(String[] args) throws Exception {
        Provider p = Security.getProvider("SunPKCS11").configure(args[0]);
        Security.addProvider(p);
        char[] pin = args[1].toCharArray();
        KeyStore ks = KeyStore.getInstance("PKCS11", p);
        ks.load(null, pin);
        switch (args[2]) {
            case "keypair": {
                KeyPairGenerator g = KeyPairGenerator.getInstance(args[3], p);
                if (args[3].equals("RSA")) {
                    g.initialize(2048);
                } else {
                    g.initialize(new ECGenParameterSpec("secp256r1"));
                }
                KeyPair kp = g.generateKeyPair();
                System.out.println("generated " + kp.getPrivate().getClass().getName());
                signAndCheck(p, kp.getPrivate(), kp.getPublic());
                break;
            }
            case "entry":
                useEntry(p, ks, args[3], pin);
                break;
            case "import": {
                KeyStore p12 = KeyStore.getInstance("PKCS12");
                try (FileInputStream in = new FileInputStream(args[3])) {
                    p12.load(in, pin);
                }
                String alias = p12.aliases().nextElement();
                PrivateKey key = (PrivateKey) p12.getKey(alias, pin);
                Certificate[] chain = p12.getCertificateChain(alias);
                ks.setKeyEntry(args[4], key, null, chain);
                KeyStore again = KeyStore.getInstance("PKCS11", p);
                again.load(null, pin);
                useEntry(p, again, args[4], pin);
                break;
            }
            default:
                throw new IllegalArgumentException(args[2]);
        }
    }

    private static void useEntry(Provider p, KeyStore ks, String alias, char[] pin)
            throws Exception {
        if (!ks.isKeyEntry(alias)) {
            throw new IllegalStateException(alias + " is not a key entry");
        }
        KeyStore.PrivateKeyEntry e = (KeyStore.PrivateKeyEntry) ks.getEntry(alias, null);
        X509Certificate cert = (X509Certificate) e.getCertificate();
        cert.verify(cert.getPublicKey());
        System.out.println("entry " + alias + ": " + cert.getSubjectX500Principal().getName());
        signAndCheck(p, e.getPrivateKey(), cert.getPublicKey());
    }
}
