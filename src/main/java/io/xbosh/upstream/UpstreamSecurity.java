package io.xbosh.upstream;

import io.vertx.core.net.ClientSSLOptions;
import io.vertx.core.net.PemTrustOptions;
import io.xbosh.config.XboshConfig.UpstreamTls;

/**
 * How a link secures itself with the XMPP server (XEP-0124 §19.2; RFC 6120 §5): the mode and the
 * TLS options. The server's certificate is checked against the session's {@code to} domain, which
 * is also sent as SNI (RFC 6120 §13.7.2).
 */
public record UpstreamSecurity(UpstreamTls mode, ClientSSLOptions ssl) {

  /** Plain TCP only. */
  public static final UpstreamSecurity OFF = new UpstreamSecurity(UpstreamTls.OFF, new ClientSSLOptions());

  /** @param trustPem PEM file of trusted authorities, or null for the JVM's trust store */
  public static UpstreamSecurity of(UpstreamTls mode, String trustPem) {
    ClientSSLOptions ssl = new ClientSSLOptions().setHostnameVerificationAlgorithm("HTTPS");
    if (trustPem != null) {
      ssl.setTrustOptions(new PemTrustOptions().addCertPath(trustPem));
    }
    return new UpstreamSecurity(mode, ssl);
  }
}
