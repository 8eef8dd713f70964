package io.xbosh.amqp;

import java.io.IOException;
import java.io.InputStream;
import java.net.IDN;
import java.net.InetAddress;
import java.net.Socket;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * The trust of an {@code amqps://} broker: its chain must lead to a trusted authority (the PEM file
 * of {@code XBOSH_AMQP_TRUST}, else the JVM's) and its certificate must name the host of the URI.
 *
 * <p>The RabbitMQ Java client under the Vert.x one connects with a bare {@code SSLContext}: it
 * checks the chain only, and Vert.x 5.0.7 exposes neither its {@code enableHostnameVerification()}
 * nor a socket configurator. So the host is checked here, in the trust manager, during the
 * handshake, before the client sends the user's credentials. The rules are RFC 6125's: a DNS name
 * matches a {@code subjectAltName} DNS entry (case-insensitive, a {@code *} only as the whole
 * left-most label, matching one label), an IP literal an IP entry; the subject's CN is not looked
 * at (as in browsers and the JDK's own HTTPS check).
 */
final class BrokerTrust extends X509ExtendedTrustManager {

  private static final int SAN_DNS = 2;
  private static final int SAN_IP = 7;

  private final X509ExtendedTrustManager chain;
  private final String host;

  private BrokerTrust(X509ExtendedTrustManager chain, String host) {
    this.chain = chain;
    this.host = host;
  }

  /** The trust manager for a broker at {@code host}; {@code pem} null: the JVM's authorities. */
  static TrustManager forHost(String pem, String host) throws IOException, GeneralSecurityException {
    TrustManagerFactory f = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    f.init(pem == null ? null : keyStore(Path.of(pem)));
    for (TrustManager m : f.getTrustManagers()) {
      if (m instanceof X509ExtendedTrustManager x) {
        return new BrokerTrust(x, host);
      }
    }
    throw new GeneralSecurityException("no X.509 trust manager");
  }

  private static KeyStore keyStore(Path pem) throws IOException, GeneralSecurityException {
    KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
    ks.load(null, null);
    Collection<? extends java.security.cert.Certificate> certs;
    try (InputStream in = Files.newInputStream(pem)) {
      certs = CertificateFactory.getInstance("X.509").generateCertificates(in);
    }
    if (certs.isEmpty()) {
      throw new GeneralSecurityException(pem + " holds no certificate");
    }
    int i = 0;
    for (java.security.cert.Certificate c : certs) {
      ks.setCertificateEntry("ca-" + i++, c);
    }
    return ks;
  }

  /** Whether the certificate names {@code host} (RFC 6125, see the class comment). */
  static boolean names(X509Certificate cert, String host) throws CertificateParsingException {
    Collection<List<?>> sans = cert.getSubjectAlternativeNames();
    if (sans == null) {
      return false;
    }
    InetAddress ip = ipLiteral(host);
    String name = ip == null ? normal(host) : null;
    for (List<?> san : sans) {
      int type = (Integer) san.get(0);
      if (ip != null && type == SAN_IP && ip.equals(ipLiteral((String) san.get(1)))) {
        return true;
      }
      if (name != null && type == SAN_DNS && matches(normal((String) san.get(1)), name)) {
        return true;
      }
    }
    return false;
  }

  private static boolean matches(String pattern, String name) {
    if (!pattern.startsWith("*.")) {
      return pattern.equals(name);
    }
    String suffix = pattern.substring(1); // ".example.com"
    int dot = name.indexOf('.');
    // one whole label, and no wildcard for a public suffix alone ("*.com")
    return dot > 0 && name.substring(dot).equals(suffix) && suffix.indexOf('.', 1) > 0;
  }

  private static String normal(String dns) {
    String d = dns.endsWith(".") ? dns.substring(0, dns.length() - 1) : dns;
    try {
      return IDN.toASCII(d, IDN.ALLOW_UNASSIGNED).toLowerCase(Locale.ROOT);
    } catch (IllegalArgumentException e) {
      return d.toLowerCase(Locale.ROOT);
    }
  }

  /** The address of an IPv4 or IPv6 literal, null for a name (never a DNS look-up). */
  private static InetAddress ipLiteral(String s) {
    String h = s.startsWith("[") && s.endsWith("]") ? s.substring(1, s.length() - 1) : s;
    boolean v4 = h.matches("\\d{1,3}(\\.\\d{1,3}){3}");
    boolean v6 = h.contains(":") && h.matches("[0-9A-Fa-f:.]+(%\\w+)?");
    if (!v4 && !v6) {
      return null;
    }
    try {
      return InetAddress.getByName(h);
    } catch (UnknownHostException e) {
      return null;
    }
  }

  private void checkHost(X509Certificate[] chain) throws CertificateException {
    if (chain == null || chain.length == 0 || !names(chain[0], host)) {
      String subject = chain == null || chain.length == 0 ? "none" : chain[0].getSubjectX500Principal().getName();
      Collection<List<?>> sans = chain == null || chain.length == 0 ? null : chain[0].getSubjectAlternativeNames();
      throw new CertificateException("the broker's certificate does not name " + host + " (subject " + subject
          + ", subjectAltName " + (sans == null ? "none" : sans.stream().map(l -> String.valueOf(l.get(1))).toList()) + ")");
    }
  }

  @Override
  public void checkServerTrusted(X509Certificate[] certs, String authType, Socket socket) throws CertificateException {
    chain.checkServerTrusted(certs, authType, socket);
    checkHost(certs);
  }

  @Override
  public void checkServerTrusted(X509Certificate[] certs, String authType, SSLEngine engine) throws CertificateException {
    chain.checkServerTrusted(certs, authType, engine);
    checkHost(certs);
  }

  @Override
  public void checkServerTrusted(X509Certificate[] certs, String authType) throws CertificateException {
    chain.checkServerTrusted(certs, authType);
    checkHost(certs);
  }

  @Override
  public void checkClientTrusted(X509Certificate[] certs, String authType, Socket socket) throws CertificateException {
    throw new CertificateException("a broker link trusts no client");
  }

  @Override
  public void checkClientTrusted(X509Certificate[] certs, String authType, SSLEngine engine) throws CertificateException {
    throw new CertificateException("a broker link trusts no client");
  }

  @Override
  public void checkClientTrusted(X509Certificate[] certs, String authType) throws CertificateException {
    throw new CertificateException("a broker link trusts no client");
  }

  @Override
  public X509Certificate[] getAcceptedIssuers() {
    return chain.getAcceptedIssuers();
  }
}
