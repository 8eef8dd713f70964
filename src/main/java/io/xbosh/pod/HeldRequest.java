package io.xbosh.pod;

import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerResponse;
import io.xbosh.protocol.BodyWriter;
import io.xbosh.vertx.Loops;
import java.util.List;
import java.util.function.Consumer;

/**
 * One HTTP request waiting for its answer. Confined to the event loop it arrived on: answers from
 * other threads hop onto it. An answer that arrives before the store's reply to the request itself
 * (possible when another loop delivers stanzas meanwhile) is kept until {@link #settle}.
 *
 * <p>A request the store holds with a deadline (XEP-0124 §8: the store answers it empty by itself a
 * margin before its wait runs out, see {@code SessionStore.EXPIRY_MARGIN_MS}) is answered empty here
 * when its wait has passed, without a script, once nothing decided before the deadline can still be
 * on its way to it: its wait ends fenced on the channel it listens on (a {@code PING} answered behind
 * every answer published to the pod before it; on a Redis Cluster the pod's sharded channel of the
 * session's slot, on its master, see {@code ShardChannels}), the channel has not dropped since the request was
 * registered (nor been given back with the request still to be asked about), no script of this pod
 * on the session is in flight, and no answer is on its way to this loop. Otherwise it asks the store
 * ({@code release}), as a request without a deadline always does.
 */
public final class HeldRequest {

  /** Writes a body as the HTTP answer. */
  public interface Writer {
    void write(HttpServerResponse response, int status, String contentType, String body);
  }

  private final Pod pod;
  private final Context context;
  private final HttpServerResponse response;
  private final String holder;
  private final Writer writer;
  private String contentType;
  /** the session and rid of the request, once known (for fetching an answer the pod may have missed) */
  private volatile String sid;
  private volatile long rid;
  /** the store has accepted the request (it may be held there) */
  private volatile boolean settled;
  /** the pod's channel came back while this request was held: once settled, ask what it is owed */
  private volatile boolean recheck;
  private String early;
  /** the wait (or the next in-order retry) on the pod's timer wheel; armed while scheduled there */
  private final TimerWheel.Task expiry;
  private boolean armed;
  /** System.nanoTime() when the wait runs out */
  private long deadline;
  private boolean done;
  /** the client closed the connection before an answer was written */
  private boolean abandoned;
  /** the store holds it with a deadline: its holder may answer it empty by itself once the wait is over */
  private boolean storeDeadline;
  /** the pod's channel when the request was registered (-1: down, or none that fences) */
  private final long channel;
  /** an answer for this request is on its way to this loop (set before the hop); from any thread */
  private volatile boolean offered;
  private Consumer<HeldRequest> onTimeout;
  private Consumer<HeldRequest> onAbandon;
  private final long since = System.nanoTime();

  HeldRequest(Pod pod, Context context, HttpServerResponse response, String holder, Writer writer) {
    this(pod, context, response, holder, writer, pod.channel());
  }

  private HeldRequest(Pod pod, Context context, HttpServerResponse response, String holder, Writer writer, long channel) {
    this.pod = pod;
    this.context = context;
    this.response = response;
    this.holder = holder;
    this.writer = writer;
    this.channel = channel;
    this.expiry = new TimerWheel.Task(context, this::expired, this::expiredAfterFence, channel);
  }

  /** Registers a new held request for the response on the current event loop. */
  public static HeldRequest register(Pod pod, HttpServerResponse response, Writer writer) {
    return registered(new HeldRequest(pod, Vertx.currentContext(), response, pod.newHolder(), writer));
  }

  /**
   * Registers a new held request of the session on the current event loop, listening where the pod
   * receives that session's answers ({@link io.xbosh.cluster.PodBus#listening}: on a Redis Cluster,
   * the sharded channel of its slot, named in the holder id).
   */
  public static HeldRequest register(Pod pod, HttpServerResponse response, Writer writer, String sid) {
    io.xbosh.cluster.PodBus.Listening where = pod.listening(sid);
    return registered(new HeldRequest(pod, Vertx.currentContext(), response, pod.newHolder(where.holderSuffix()), writer,
        where.channel()));
  }

  private static HeldRequest registered(HeldRequest r) {
    r.pod.hold(r);
    r.response.closeHandler(v -> r.abandon());
    return r;
  }

  /** The channel noted at registration. */
  long channel() {
    return channel;
  }

  public String holder() {
    return holder;
  }

  /** Names the session and rid this request is for. */
  public void bind(String sid, long rid) {
    this.rid = rid;
    this.sid = sid;
  }

  /** The session this request is for; null until {@link #bind}. */
  public String sid() {
    return sid;
  }

  /** Its rid; 0 until {@link #bind}. */
  public long rid() {
    return rid;
  }

  /** Whether the store has accepted the request and it still waits here; from any thread. */
  boolean waiting() {
    return settled && !done;
  }

  public boolean done() {
    return done;
  }

  /**
   * The store accepted the request and it waits: start the wait timer.
   *
   * @param onTimeout called on this loop when {@code waitMs} passes unanswered
   */
  public void settle(String contentType, long waitMs, Consumer<HeldRequest> onTimeout) {
    settle(contentType, waitMs, onTimeout, null);
  }

  /**
   * Like {@link #settle(String, long, Consumer)}; {@code onAbandon} is called on this loop, once,
   * when the client closes the connection before the answer (at once if it already has).
   */
  public void settle(String contentType, long waitMs, Consumer<HeldRequest> onTimeout, Consumer<HeldRequest> onAbandon) {
    settle(contentType, waitMs, false, onTimeout, onAbandon);
  }

  /**
   * Like {@link #settle(String, long, Consumer, Consumer)}; with {@code storeDeadline} (the store
   * holds the request with a deadline: {@code Accepted.deadline()}) the end of the wait may be
   * answered empty here, without {@code onTimeout}.
   */
  public void settle(String contentType, long waitMs, boolean storeDeadline, Consumer<HeldRequest> onTimeout,
      Consumer<HeldRequest> onAbandon) {
    this.contentType = contentType;
    this.storeDeadline = storeDeadline;
    this.onTimeout = onTimeout;
    this.onAbandon = onAbandon;
    this.settled = true;
    if (done) {
      if (abandoned && onAbandon != null) {
        onAbandon.accept(this);
      }
      return;
    }
    if (early != null) {
      complete(early);
      return;
    }
    // XEP-0124 §8: answered no later than the wait, so the wheel may end it up to two ticks early;
    // the wait counts as over when the wheel ends it
    deadline = pod.wheel().runsWithin(waitMs);
    if (pod.answersAtOnce()) {
      // a draining pod holds nothing while another pod can take the client's next poll
      startTimer(1, false);
    } else {
      startTimer(waitMs, storeDeadline);
    }
    if (recheck) {
      // the store may have accepted it, and answered it, while the channel was down
      pod.recoverAnswer(this);
    }
  }

  /**
   * The pod's channel came back: an answer to this request may have been published while it was
   * down. Asked about now if it waits ({@link #waiting}), else when it settles; from any thread
   * (the flag is written before {@link #waiting} is read, {@code settled} before the flag is, so at
   * least one side asks).
   */
  void recheckOnSettle() {
    recheck = true;
  }

  private void startTimer(long ms, boolean fenced) {
    armed = true;
    pod.wheel().scheduleWithin(expiry, ms, fenced);
  }

  /** The wheel's tick found the wait over; on this loop. */
  private void expired() {
    if (!armed) {
      return;
    }
    armed = false;
    if (!done) {
      onTimeout.accept(this);
    }
  }

  /** The empty answer the store gave a request at its deadline (render() in prelude.lua without ack). */
  static final String EMPTY = BodyWriter.response(null, List.of());

  /**
   * The wait of a request with a store deadline is over and the pod's channel fence has come back
   * ({@code fence}: the channel it ran on, negative when none or it failed); on this
   * loop. The store's clock is past the deadline (the accept reply came after the accept ran, and
   * the deadline is a margin before the wait's end), so the store can no longer give the request
   * anything but that empty answer; every answer it gave before is here or known to be coming.
   */
  private void expiredAfterFence(long fence) {
    if (!armed) {
      return;
    }
    armed = false;
    if (done || offered) {
      return; // answered, or an answer is queued on this loop behind this task
    }
    if (fence < 0 || fence != channel || recheck || pod.scriptsInFlight(sid)) {
      // an answer published while the channel was down, or in a reply not yet dispatched, may be owed
      pod.metrics().heldExpired("release");
      onTimeout.accept(this);
      return;
    }
    pod.metrics().heldExpired("local");
    complete(EMPTY);
  }

  /** How much of the wait is left, ms (0 once it ran out). */
  public long waitLeftMs() {
    return Math.max(0, (deadline - System.nanoTime()) / 1_000_000L);
  }

  /**
   * It was not this request's turn to be answered (an earlier one is still open, XEP-0124 §14):
   * try again in {@code ms}; on this loop.
   */
  public void retryIn(long ms) {
    if (!done && !armed) {
      startTimer(ms, false);
    }
  }

  /** Ends the wait now, as if it had run out (the pod is draining); from any thread. */
  void expireNow() {
    context.runOnContext(v -> {
      if (!done && armed) {
        armed = false;
        pod.wheel().cancel(expiry);
        onTimeout.accept(this);
      }
    });
  }

  /**
   * The store's answer for this request; from any thread. On the request's own event loop (a
   * {@code deliver} reply of a session whose link is on this loop, an {@code accept} or
   * {@code release} reply) it is written at once: queued behind the loop's other work it waited a
   * turn of the loop, 0.3 ms at p50 on a pod at load 10 (BENCHMARKS.md, "Warm login"). The test is
   * the thread, not the context: each HTTP request runs on a duplicate context of its own.
   */
  public void answer(String body) {
    // before the hop: an end of the wait on this loop meanwhile must not answer it empty
    offered = true;
    Loops.run(context, () -> take(body));
  }

  /** An answer on this loop: written, or kept until the store's reply to the request settles it. */
  private void take(String body) {
    if (done) {
      return;
    }
    if (contentType == null) {
      early = body;
    } else {
      complete(body);
    }
  }

  /** Answers now with a body and content type of the caller's choosing (errors, resends). */
  public void respond(int status, String type, String body) {
    this.contentType = type;
    if (!done) {
      finish();
      writer.write(response, status, type, body);
    }
  }

  /** Gives up without an answer: the connection is closed so the client resends the rid. */
  public void drop() {
    if (!done) {
      finish();
      response.reset();
    }
  }

  private void complete(String body) {
    if (done) {
      return;
    }
    finish();
    writer.write(response, 200, contentType, body);
  }

  private void abandon() {
    if (!done) {
      abandoned = true;
      finish();
      if (onAbandon != null) {
        onAbandon.accept(this);
      }
    }
  }

  private void finish() {
    done = true;
    pod.metrics().held(System.nanoTime() - since);
    if (armed) {
      armed = false;
      pod.wheel().cancel(expiry);
    }
    pod.unhold(this);
  }
}
