package io.xbosh.session;

import java.util.List;

/**
 * What the store decided about one client request (the {@code accept} step).
 *
 * @param outcome   what happened to the request
 * @param content   the session's response Content-Type
 * @param legacy    whether the client is pre-1.6 (HTTP error codes)
 * @param owner     the pod that owns the upstream link
 * @param waitSeconds the session's wait, seconds: how long a held request may wait
 * @param deadline  whether the request, held, has a deadline in the store: the store answers it
 *                  empty by itself a margin before its wait runs out (the next operation on the
 *                  session finds it past its deadline), so its holder may answer it empty without
 *                  {@code release} once the wait has passed, when it knows no earlier answer is on its
 *                  way ({@link SessionStore#EXPIRY_MARGIN_MS})
 * @param immediate the body to answer this request with now, or null when it is held
 * @param forwards  payloads released for the upstream link, in rid order
 * @param answers   responses now due to held requests (possibly this one)
 */
public record Accepted(
    Outcome outcome,
    String content,
    boolean legacy,
    String owner,
    int waitSeconds,
    boolean deadline,
    String immediate,
    List<Forward> forwards,
    List<Answer> answers) {

  public enum Outcome {
    /** In order: processed (and any parked successors with it). */
    PROCESSED,
    /** Ahead of a gap: parked until the gap fills. */
    PARKED,
    /** A resent rid whose response is buffered: {@link #immediate} is that response. */
    RESENT,
    /** A resent rid that was still held: this copy replaces the older one, which gets a recoverable error. */
    TAKEOVER,
    /** The session has ended: {@link #immediate} is its final body. */
    ENDED,
    /** A plain request of a session begun over HTTPS (XEP-0124 §19.1): not processed, its connection closes. */
    DROPPED
  }

  public static final Accepted DROPPED = new Accepted(Outcome.DROPPED, null, false, null, 0, false, null, List.of(), List.of());

  public Accepted {
    forwards = List.copyOf(forwards);
    answers = List.copyOf(answers);
  }
}
