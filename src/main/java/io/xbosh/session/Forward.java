package io.xbosh.session;

/**
 * Client payload released for the upstream link, in rid order (XEP-0124 §14.2).
 *
 * @param rid       the request it came in
 * @param payload   the serialised payloads, concatenated ("" for a poll)
 * @param restart   XEP-0206 §5 stream restart
 * @param terminate XEP-0124 §13 client terminate: send payload, then close the stream
 */
public record Forward(long rid, String payload, boolean restart, boolean terminate) {

  /** Wire form of the flags in the store. */
  public String flags() {
    return (restart ? "r" : "") + (terminate ? "t" : "");
  }

  public static Forward of(long rid, String flags, String payload) {
    return new Forward(rid, payload, flags.indexOf('r') >= 0, flags.indexOf('t') >= 0);
  }
}
