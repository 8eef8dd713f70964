package io.xbosh.pod;

import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerResponse;
import java.util.function.Consumer;

/**
 * One HTTP request waiting for its answer. Confined to the event loop it arrived on: answers from
 * other threads hop onto it. An answer that arrives before the store's reply to the request itself
 * (possible when another loop delivers stanzas meanwhile) is kept until {@link #settle}.
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
  private Consumer<HeldRequest> onTimeout;
  private Consumer<HeldRequest> onAbandon;
  private final long since = System.nanoTime();

  HeldRequest(Pod pod, Context context, HttpServerResponse response, String holder, Writer writer) {
    this.pod = pod;
    this.context = context;
    this.response = response;
    this.holder = holder;
    this.writer = writer;
    this.expiry = new TimerWheel.Task(context, this::expired);
  }

  /** Registers a new held request for the response on the current event loop. */
  public static HeldRequest register(Pod pod, HttpServerResponse response, Writer writer) {
    HeldRequest r = new HeldRequest(pod, Vertx.currentContext(), response, pod.newHolder(), writer);
    pod.hold(r);
    response.closeHandler(v -> r.abandon());
    return r;
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
  String sid() {
    return sid;
  }

  long rid() {
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
    this.contentType = contentType;
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
    deadline = System.nanoTime() + waitMs * 1_000_000L;
    // a draining pod holds nothing while another pod can take the client's next poll
    startTimer(pod.answersAtOnce() ? 1 : waitMs);
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

  private void startTimer(long ms) {
    armed = true;
    pod.wheel().schedule(expiry, ms);
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
      startTimer(ms);
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

  /** The store's answer for this request; from any thread. */
  public void answer(String body) {
    context.runOnContext(v -> {
      if (done) {
        return;
      }
      if (contentType == null) {
        early = body;
      } else {
        complete(body);
      }
    });
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
