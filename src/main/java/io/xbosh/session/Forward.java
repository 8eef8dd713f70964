package io.xbosh.session;

/**
 * Client payload released for the upstream links. Requests are processed in rid order (XEP-0124
 * §14.2); those that carry something for the server (payloads, a restart, a terminate, a new
 * stream) are numbered 1, 2, 3 … per session in that order, and the owner applies them by that
 * number: forwards of one session can reach it out of order (from two event loops, or from another
 * pod), and empty polls need not reach it at all.
 *
 * @param seq       position in the session's sequence of forwards, from 1
 * @param payload   the serialised payloads, concatenated (may be "" with a restart or terminate);
 *                  for {@code open}, the new stream's {@link StreamRequest}
 * @param restart   XEP-0206 §5 stream restart
 * @param terminate XEP-0124 §13 client terminate: send payload, then close the stream
 * @param open      XEP-0124 §16.3: open the stream {@code stream}
 * @param stream    the stream it is for (XEP-0124 §16.4), null for every open stream
 * @param fragment  XEP-0252: the payload is raw script-syntax content, a piece of the session's
 *                  continuous content that the owner reassembles into elements
 */
public record Forward(long seq, String payload, boolean restart, boolean terminate, boolean open, String stream, boolean fragment) {

  public Forward(long seq, String payload, boolean restart, boolean terminate) {
    this(seq, payload, restart, terminate, false, null, false);
  }

  public Forward(long seq, String payload, boolean restart, boolean terminate, boolean open, String stream) {
    this(seq, payload, restart, terminate, open, stream, false);
  }
}
