package io.xbosh.session;

import io.vertx.core.Future;
import java.util.Collection;
import java.util.List;
import java.util.Set;

/**
 * All session state of xbosh: parameters, rid window, buffered responses, stanzas waiting in either
 * direction and the registry of held requests. Every operation is one atomic step (one Redis round
 * trip in the Redis implementation), so that any pod can serve any request of any session.
 *
 * <p>Invariant after every operation: either no request is held or no server stanza is waiting
 * (waiting stanzas go out in the oldest held request at once, XEP-0124 §8).
 */
public interface SessionStore {

  /**
   * XEP-0124 §9.2: a response is reported missing only once it has been on its way this long, so a
   * response still in flight when the client wrote its next request is not reported.
   */
  long REPORT_GRACE_MS = 1000;

  /**
   * XEP-0124 §14.3: a cached response is kept, beyond the last `requests` (2 × `requests` with
   * ack), while it is younger than `wait` plus this margin, so a client whose request failed may
   * still resend its rid; at most {@link #cachedResponsesAtMost} responses are kept.
   */
  long RESEND_MARGIN_MS = 10_000;

  /**
   * XEP-0124 §8: a held request's deadline in the store is this much before its wait runs out. The
   * store answers it empty at the deadline (every operation first takes requests past their
   * deadline out, as {@link #release} would have answered them then), and its holder answers it
   * empty by itself, without {@code release}, once the wait has passed since the accept reply
   * reached it: the store's clock is then past the deadline even if it stepped back by less than the
   * margin less the timer wheel's slack. Sessions with acks ({@code ack} renders the empty body with
   * the highest rid received when it is given) and waits under twice the margin get no deadline.
   */
  long EXPIRY_MARGIN_MS = 1000;

  /** Whether requests held from now on get a deadline ({@link #EXPIRY_MARGIN_MS}). */
  static boolean deadlines(int waitSeconds, boolean ack) {
    return !ack && waitSeconds * 1000L >= 2 * EXPIRY_MARGIN_MS;
  }

  /** The bound on a session's cached responses, whatever their age. */
  static int cachedResponsesAtMost(int requests) {
    return 2 * requests + 1;
  }

  /** Streams a session may have open at once (XEP-0124 §16) unless configured otherwise. */
  int DEFAULT_MAX_STREAMS = 4;

  /** Bytes of server stanzas one response carries at most (at least one stanza always goes). */
  int DEFAULT_MAX_RESPONSE_BYTES = 1 << 20;

  /** Bytes of server stanzas waiting per session before deliver says full. */
  int DEFAULT_MAX_QUEUED_BYTES = 4 << 20;

  /**
   * The rid of a request that is the session's next one, whatever that is: an HTTP Polling request
   * (XEP-0025), which carries no rid. The store numbers it in the same step that checks its key, so
   * polls racing on two pods are taken one at a time. BOSH rids are never negative.
   */
  long NEXT_RID = -1;

  /** Stores a new session; fails if the sid exists. */
  Future<Void> create(SessionRecord record);

  /**
   * Applies one client request (XEP-0124 §14): the rid window, parking of early rids, resends,
   * hold, release of server stanzas to held requests, acknowledgement reports (§9.2) and the
   * overactivity rules (§11, §12). Fails with a {@link io.xbosh.protocol.BoshException}:
   * {@code item-not-found} for an unknown session, a rid outside the window or a bad key,
   * {@code policy-violation} for too many or too frequent requests.
   *
   * @param rid     the request's rid, or {@link #NEXT_RID}
   * @param holder  id of the HTTP request, registered as held if the request waits
   * @param payload the request's payloads, concatenated
   * @param flags   what the request asks besides its rid and payload: restart, terminate, pause,
   *                key, ack, the stream it is for, whether it came unencrypted
   */
  Future<Accepted> accept(String sid, long rid, String holder, RequestFlags flags, String payload);

  /**
   * Appends server stanzas for the client and answers the oldest held request with everything
   * waiting.
   *
   * @return the answers now due; {@link Delivery#gone()} when the session no longer exists,
   *     {@link Delivery#full()} when the batch would take the outbound queue past its bound in
   *     stanzas or bytes (nothing was appended; a batch meeting an empty queue always goes in, so
   *     no batch is refused for ever)
   */
  default Future<Delivery> deliver(String sid, List<String> stanzas) {
    return deliver(sid, null, stanzas);
  }

  /**
   * Like {@link #deliver(String, List)} for the stanzas of one stream (XEP-0124 §16): a response
   * never mixes streams and names its stream once a second one is open.
   *
   * @param stream the stream's name, null for the session's first stream
   */
  default Future<Delivery> deliver(String sid, String stream, List<String> stanzas) {
    return deliver(sid, stream, null, stanzas);
  }

  /**
   * Like {@link #deliver(String, String, List)}, applied once per token: a batch sent again with a
   * token the session has seen (its first reply was lost) appends nothing, publishes nothing and
   * is answered as the first time, with the answers it gave then (those whose responses are still
   * buffered).
   *
   * @param token {@code <link>:<n>}, {@code <link>} (no whitespace, no {@code =}) naming the
   *              sender and unique in the session, {@code n} counting up with each new batch of
   *              that sender; the session remembers the latest token of its last 2 x maxStreams
   *              senders. Null: the batch is not deduplicated.
   */
  Future<Delivery> deliver(String sid, String stream, String token, List<String> stanzas);

  /**
   * The wait timer of a held request fired: answer it with whatever is waiting (usually nothing).
   *
   * @return the body for that request, or null when it was answered or replaced meanwhile; a failed
   *     future with {@code item-not-found} when the session is gone
   */
  default Future<String> release(String sid, long rid, String holder) {
    return release(sid, rid, holder, false);
  }

  /**
   * Like {@link #release(String, long, String)}; with {@code inOrder}, for a pod that answers
   * before the wait ran out (draining), only when no earlier request of the session is unanswered
   * (XEP-0124 §14: answers go in rid order): otherwise nothing changes and the result is
   * {@link #NOT_ITS_TURN}.
   */
  Future<String> release(String sid, long rid, String holder, boolean inOrder);

  /** What {@link #release(String, long, String, boolean)} returns when an earlier request is still open. */
  String NOT_ITS_TURN = "";

  /**
   * The answer owed to a request this pod still holds, when the store decided it but the pod may
   * have missed it (its channel was down): the cached response of an answered rid, a recoverable
   * error for a rid another copy took over, the final body of an ended session. Reads only.
   *
   * @return the body, or null while the request still waits or nothing is known of it
   */
  Future<String> answered(String sid, long rid, String holder);

  /**
   * The client closed the connection of a request it had sent (XEP-0124 §14.3 broken
   * connection; a browser's reload or closed tab): the request gets no answer. A held request
   * leaves the held registry, so the overactivity rules (§11, §12) stop counting it and waiting
   * stanzas stay for the next request; a resend of its rid waits again. A parked request is answered
   * empty as {@link #release} does, its payload processed when the gap fills.
   *
   * @return whether the request was still held or parked
   */
  Future<Boolean> abandon(String sid, long rid, String holder);

  /**
   * Ends a session from the server side: every held request is answered with a terminate body (the
   * oldest also carries stanzas still waiting), the state is dropped, and a tombstone answers the
   * session's next request with the same body for the store's tombstone period.
   *
   * @param terminateOpen the terminate wrapper's start tag without its closing {@code >}
   * @param children      children for the terminate body, e.g. the server's stream error
   * @return the answers for held requests and the tombstone (null when the sid is unknown; the
   *     earlier tombstone when the session had already ended)
   */
  Future<Terminated> terminate(String sid, String terminateOpen, String children);

  /**
   * Ends a session over a request refused before the store saw it (a malformed attribute), like
   * {@link #terminate} without children; except that a plain request of a session begun encrypted
   * ends nothing (XEP-0124 §19.1): then {@link Terminated#dropped()}.
   *
   * @param encrypted whether the refused request came encrypted
   */
  Future<Terminated> refuse(String sid, String terminateOpen, boolean encrypted);

  /**
   * One stream of the session ended from the server side (XEP-0124 §16.6): while others stay open,
   * the client gets a terminate body naming it, behind the stanzas the stream sent before, and the
   * session goes on; the last open stream ends the session as {@link #terminate} does.
   *
   * @param stream the stream's name, null for the first stream
   * @return {@link Terminated#ended()} true when the session ended with it
   */
  Future<Terminated> endStream(String sid, String stream, String terminateOpen, String children);

  /**
   * The server stanzas that no response carried to the client of a session that expired or ended,
   * taken out of the store for the owner to bounce (XEP-0206 §7). Empty while the session lives.
   */
  Future<List<Queued>> leftovers(String sid);

  /** A server stanza waiting for the client; {@code stream} null for the first stream. */
  record Queued(String stream, String stanza) {
  }

  /**
   * The owner takes the client payloads that other pods accepted for a session it owns (each pod
   * hands over through the store when the owner is elsewhere). Empty when there are none.
   */
  Future<List<Forward>> drain(String sid);

  /**
   * The forwards from number {@code from} on that the owner got in an accept reply (accepted on
   * the owner itself) or a {@link #drain} reply (accepted elsewhere), kept for the last few
   * numbers: for an owner whose reorder buffer has waited too long for a number, or whose drain
   * failed (that reply may have been lost). Reads only. Forwards accepted elsewhere and not yet
   * drained wait in the inbound list.
   */
  Future<List<Forward>> forwardsFrom(String sid, long from);

  /**
   * Namespace of the {@code <undelivered/>} child of a terminate body: the client payloads that
   * were accepted (answered 200) but never written to the server, because the session ended before
   * its owner took them (the owner died, or the server side ended the session).
   */
  String UNDELIVERED_NS = "urn:xmpp:xbosh:undelivered";

  /** How many of the latest forwards {@link #forwardsFrom} can still give. */
  int KEPT_FORWARDS = 8;

  /**
   * Tells the store how far this pod's links took each session's forwards in order (the highest
   * number taken, 0 when unknown): an {@link #accept} on the owner then drops the kept copies up to
   * it, which the owner can no longer miss, so an idle session keeps none.
   */
  default void forwardsTaken(java.util.function.ToLongFunction<String> taken) {
  }

  /** Which of these sessions are live and which have ended (the rest expired or never existed). */
  Future<States> states(Collection<String> sids);

  /** Which of these sessions still exist (not expired, not ended). */
  default Future<Set<String>> existing(Collection<String> sids) {
    return states(sids).map(States::live);
  }

  /** Result of {@link #states}. */
  record States(Set<String> live, Set<String> ended) {
  }

  /**
   * For the owner's expiry index: which of these sessions ended, and for each live one how long it
   * lives if nothing happens to it (ms, its keys' time to live); the rest expired or never existed.
   * Reads only.
   */
  Future<Lifetimes> lifetimes(Collection<String> sids);

  /** Result of {@link #lifetimes}: live sids with their time left in ms, and ended sids. */
  record Lifetimes(java.util.Map<String, Long> live, Set<String> ended) {
  }

  /**
   * Deletes whatever these sessions of the pod's warm-up left (their tombstones, lists, the record
   * of one that did not end): the warm-up's ids only ({@code io.xbosh.warmup.WarmupRoute#SID_PREFIX}),
   * any other id fails the call before anything is deleted, so no client session can be touched.
   */
  Future<Void> deleteWarmup(Collection<String> sids);

  /** The prefix of the warm-up's session ids, which no client session has (a dot is not base64url). */
  String WARMUP_SID_PREFIX = "warmup.";

  /** Fails unless every sid is a warm-up one. */
  static void requireWarmup(Collection<String> sids) {
    for (String sid : sids) {
      if (!sid.startsWith(WARMUP_SID_PREFIX)) {
        throw new IllegalArgumentException("not a warm-up session: " + sid);
      }
    }
  }

  /**
   * Opens up to {@code connections} connections to the store at once (the Redis client's pool opens
   * them only when every open one is busy), so that the first real requests find them open. Nothing
   * to do for a store in process.
   */
  default Future<Void> openConnections(int connections) {
    return Future.succeededFuture();
  }

  Future<Void> close();

  /**
   * Result of {@link #terminate}: who gets which final body, what any later request gets, and
   * whether this call ended the session (false when it had ended already).
   */
  record Terminated(List<Answer> answers, String tombstone, boolean ended, boolean legacy, boolean dropped) {
    public static final Terminated UNKNOWN = new Terminated(List.of(), null, false, false);
    /** The refused request was a plain one of a session begun encrypted: nothing changed. */
    public static final Terminated DROPPED = new Terminated(List.of(), null, false, false, true);

    public Terminated(List<Answer> answers, String tombstone, boolean ended, boolean legacy) {
      this(answers, tombstone, ended, legacy, false);
    }
  }

  /** Result of {@link #deliver}. */
  record Delivery(Status status, List<Answer> answers) {
    public enum Status { OK, FULL, GONE }

    public static final Delivery FULL = new Delivery(Status.FULL, List.of());
    public static final Delivery GONE = new Delivery(Status.GONE, List.of());

    public boolean full() {
      return status == Status.FULL;
    }

    public boolean gone() {
      return status == Status.GONE;
    }
  }
}
