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

  /** XEP-0124 §17.1: a client that sent no {@code ver} expects HTTP error codes. */
  public boolean legacy() {
    return ver == null;
  }
}
