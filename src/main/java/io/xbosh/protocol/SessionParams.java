package io.xbosh.protocol;

/**
 * The negotiated parameters of one session (XEP-0124 §7.2). Immutable; stored with the session so
 * that any pod can apply them.
 *
 * @param waitSeconds seconds a request may be held
 * @param hold       how many requests may be held at once
 * @param requests   the rid window and the count of responses kept for retransmission
 * @param inactivity seconds the session may go without a held request
 * @param polling    shortest gap between empty requests, seconds
 * @param ver        negotiated protocol version, or null for a legacy client that sent none
 * @param content    Content-Type of every response
 * @param ack        whether the client asked for acknowledgements
 * @param to         target domain
 * @param lang       xml:lang of the stream
 * @param from       the client's identity for the stream header, or null
 * @param route      the client's route attribute, or null
 */
public record SessionParams(
    int waitSeconds,
    int hold,
    int requests,
    int inactivity,
    int polling,
    String ver,
    String content,
    boolean ack,
    String to,
    String lang,
    String from,
    String route) {

  /**
   * XEP-0124 §17.1: a client that sent no {@code ver}, or one below 1.6 (the version that replaced
   * HTTP error codes by terminal binding conditions), expects HTTP error codes.
   */
  public boolean legacy() {
    return isLegacy(ver);
  }

  /** @param ver a negotiated version ({@code major.minor}, integers) or null */
  public static boolean isLegacy(String ver) {
    if (ver == null) {
      return true;
    }
    int dot = ver.indexOf('.');
    int major = Integer.parseInt(ver.substring(0, dot));
    int minor = Integer.parseInt(ver.substring(dot + 1));
    return major < 1 || (major == 1 && minor < 6);
  }
}
