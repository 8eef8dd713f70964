package io.xbosh.amqp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.xbosh.testing.TestAuthority;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import javax.net.ssl.X509TrustManager;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The host name and chain checks of an {@code amqps://} broker, on certificates made by openssl. */
class BrokerTrustTest {

  static TestAuthority ca;
  static TestAuthority other;
  static X509Certificate named;
  static X509Certificate wildcard;
  static X509Certificate cnOnly;
  static X509Certificate ofOther;

  @BeforeAll
  static void certificates() throws Exception {
    ca = TestAuthority.create("test CA");
    other = TestAuthority.create("other CA");
    named = load(ca.issue("mq.internal", "DNS:mq.internal", "DNS:MQ2.Internal", "IP:10.0.0.7", "IP:::1").cert());
    wildcard = load(ca.issue("wild", "DNS:*.mq.example", "DNS:*.com").cert());
    cnOnly = load(ca.issue("mq.internal").cert());
    ofOther = load(other.issue("mq.internal", "DNS:mq.internal").cert());
  }

  @AfterAll
  static void clean() {
    ca.close();
    other.close();
  }

  static X509Certificate load(Path p) throws Exception {
    try (InputStream in = Files.newInputStream(p)) {
      return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
    }
  }

  @Test
  void dnsAndIpEntriesOfSubjectAltNameNameTheHost() throws Exception {
    assertThat(BrokerTrust.names(named, "mq.internal")).isTrue();
    assertThat(BrokerTrust.names(named, "MQ.internal.")).isTrue();
    assertThat(BrokerTrust.names(named, "mq2.internal")).isTrue();
    assertThat(BrokerTrust.names(named, "10.0.0.7")).isTrue();
    assertThat(BrokerTrust.names(named, "0:0:0:0:0:0:0:1")).isTrue();
    assertThat(BrokerTrust.names(named, "mq3.internal")).isFalse();
    assertThat(BrokerTrust.names(named, "x.mq.internal")).isFalse();
    assertThat(BrokerTrust.names(named, "10.0.0.8")).isFalse();
    // an IP is never matched against a DNS entry, nor a name against an IP entry
    assertThat(BrokerTrust.names(load(ca.issue("ip", "DNS:10.0.0.9").cert()), "10.0.0.9")).isFalse();
  }

  @Test
  void aWildcardMatchesOneWholeLeftMostLabelAndNeverAPublicSuffixAlone() throws Exception {
    assertThat(BrokerTrust.names(wildcard, "a.mq.example")).isTrue();
    assertThat(BrokerTrust.names(wildcard, "mq.example")).isFalse();
    assertThat(BrokerTrust.names(wildcard, "a.b.mq.example")).isFalse();
    assertThat(BrokerTrust.names(wildcard, "example.com")).isFalse();
  }

  @Test
  void theCommonNameAloneNamesNothing() throws Exception {
    assertThat(BrokerTrust.names(cnOnly, "mq.internal")).isFalse();
  }

  @Test
  void theChainMustLeadToTheTrustedAuthorityAndTheCertificateNameTheHost() throws Exception {
    X509TrustManager trust = (X509TrustManager) BrokerTrust.forHost(ca.cert().toString(), "mq.internal");
    trust.checkServerTrusted(new X509Certificate[] {named}, "RSA");
    assertThatThrownBy(() -> trust.checkServerTrusted(new X509Certificate[] {ofOther}, "RSA")).isInstanceOf(CertificateException.class);
    X509TrustManager elsewhere = (X509TrustManager) BrokerTrust.forHost(ca.cert().toString(), "mq.elsewhere");
    assertThatThrownBy(() -> elsewhere.checkServerTrusted(new X509Certificate[] {named}, "RSA"))
        .isInstanceOf(CertificateException.class).hasMessageContaining("does not name mq.elsewhere");
    assertThatThrownBy(() -> trust.checkClientTrusted(new X509Certificate[] {named}, "RSA")).isInstanceOf(CertificateException.class);
  }
}
