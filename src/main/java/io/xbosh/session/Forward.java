package io.xbosh.session;

/**
 * Client payload released for the upstream link. Requests are processed in rid order (XEP-0124
 * §14.2); those that carry something for the server (payloads, a restart, a terminate) are numbered
 * 1, 2, 3 … per session in that order, and the link applies them by that number: forwards of one
 * session can reach it out of order (from two event loops, or from another pod), and empty polls
 * need not reach it at all.
 *
 * @param seq       position in the session's sequence of forwards, from 1
 * @param payload   the serialised payloads, concatenated (may be "" with a restart or terminate)
 * @param restart   XEP-0206 §5 stream restart
 * @param terminate XEP-0124 §13 client terminate: send payload, then close the stream
 */
public record Forward(long seq, String payload, boolean restart, boolean terminate) {

  /** Wire form of the flags in the store. */
  public String flags() {
    return (restart ? "r" : "") + (terminate ? "t" : "");
  }

  public static Forward of(long seq, String flags, String payload) {
    String base = base(flags);
    return new Forward(seq, payload, base.indexOf('r') >= 0, base.indexOf('t') >= 0);
  }

  /** Whether a processed request with these flags and payload gives the link anything to do. */
  public static boolean carries(String flags, String payload) {
    String base = base(flags);
    return !payload.isEmpty() || base.indexOf('r') >= 0 || base.indexOf('t') >= 0;
  }

  /**
   * The flags without their key parts. Request flags: {@code r} restart, {@code t} terminate,
   * {@code p<n>} pause, then {@code ;K=<key>} and {@code ;N=<newkey>} (XEP-0124 §15).
   */
  public static String base(String flags) {
    int semi = flags.indexOf(';');
    return semi < 0 ? flags : flags.substring(0, semi);
  }
}
