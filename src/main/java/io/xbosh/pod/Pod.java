package io.xbosh.pod;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.xbosh.protocol.BodyWriter;
import io.xbosh.protocol.TerminateCondition;
import io.xbosh.session.Answer;
import io.xbosh.session.Forward;
import io.xbosh.session.InMemorySessionStore;
import io.xbosh.session.SessionStore;
import io.xbosh.session.SessionStore.Delivery;
import io.xbosh.upstream.LinkSink;
import io.xbosh.upstream.UpstreamLink;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This process's part of a deployment: its id, the session store, the upstream links it owns and
 * the HTTP requests it holds. Shared by the HTTP verticle instances; sockets stay on the event loop
 * that opened them and are reached through their own methods.
 *
 * <p>Both maps hold sockets, not session state: everything another pod would need is in the store.
 */
public final class Pod implements LinkSink {

  private static final Logger log = LoggerFactory.getLogger(Pod.class);

  private final Vertx vertx;
  private final String id;
  private final SessionStore store;
  private final int maxSessions;
  private final int maxHeld;
  private final Map<String, UpstreamLink> links = new ConcurrentHashMap<>();
  private final Map<String, HeldRequest> held = new ConcurrentHashMap<>();
  private final AtomicLong holderSeq = new AtomicLong();
  private long sweepTimer = -1;
  private volatile boolean sweeping;

  public Pod(Vertx vertx, String id, SessionStore store, int maxSessions, int maxHeld) {
    this.vertx = vertx;
    this.id = id;
    this.store = store;
    this.maxSessions = maxSessions;
    this.maxHeld = maxHeld;
  }

  public String id() {
    return id;
  }

  public SessionStore store() {
    return store;
  }

  public Vertx vertx() {
    return vertx;
  }

  /** Starts the sweep that closes links of sessions that expired or ended elsewhere. */
  public void start(long sweepMs) {
    sweepTimer = vertx.setPeriodic(sweepMs, t -> sweep());
  }

  // ---- links

  public boolean atSessionCapacity() {
    return links.size() >= maxSessions;
  }

  public int ownedSessions() {
    return links.size();
  }

  public void own(UpstreamLink link) {
    links.put(link.sid(), link);
  }

  /**
   * Hands released client payloads to the link that owns the session.
   *
   * @return false when no reachable link owns it
   */
  public boolean forward(String owner, String sid, List<Forward> forwards) {
    if (forwards.isEmpty()) {
      return true;
    }
    UpstreamLink link = id.equals(owner) ? links.get(sid) : null;
    if (link == null) {
      return false;
    }
    link.forward(forwards);
    return true;
  }

  /** Closes a link this pod owns, without a stream end (the session is already over). */
  public void abort(String sid) {
    UpstreamLink link = links.get(sid);
    if (link != null) {
      link.abort();
    }
  }

  // ---- held requests

  public boolean atHeldCapacity() {
    return held.size() >= maxHeld;
  }

  public int heldRequests() {
    return held.size();
  }

  /** A holder id unique in the deployment: {@code pod#n}. */
  public String newHolder() {
    return id + "#" + Long.toHexString(holderSeq.incrementAndGet());
  }

  void hold(HeldRequest request) {
    held.put(request.holder(), request);
  }

  void unhold(HeldRequest request) {
    held.remove(request.holder(), request);
  }

  /** Writes answers the store decided to the requests this pod holds. */
  public void dispatch(List<Answer> answers) {
    for (Answer a : answers) {
      HeldRequest r = held.get(a.holder());
      if (log.isTraceEnabled()) {
        log.trace("answer rid={} holder={} local={} body={}", a.rid(), a.holder(), r != null, a.body());
      }
      if (r != null) {
        r.answer(a.body());
      } else if (!id.equals(a.pod())) {
        // held by another pod; without a cluster transport it waits for its wait timer or a resend,
        // and the answer stays buffered for that resend
        log.debug("answer for rid {} held by pod {} not reachable from {}", a.rid(), a.pod(), id);
      }
      // else: the client gave up on that request; the buffered response serves its resend
    }
  }

  // ---- LinkSink

  @Override
  public Future<Delivery> deliver(String sid, List<String> stanzas) {
    return store.deliver(sid, stanzas).onSuccess(d -> dispatch(d.answers()));
  }

  @Override
  public Future<Void> ended(String sid, TerminateCondition condition, String children) {
    return store.terminate(sid, terminateOpen(condition), children)
        .onSuccess(t -> dispatch(t.answers()))
        .onFailure(e -> log.warn("sid={} could not record the end of the session: {}", sid, e.getMessage()))
        .mapEmpty();
  }

  @Override
  public void closed(String sid) {
    links.remove(sid);
  }

  /** The start tag of a terminate body, without its closing {@code >}. */
  public static String terminateOpen(TerminateCondition condition) {
    String open = BodyWriter.OPEN + " type=\"terminate\"";
    return condition == null ? open : open + " condition=\"" + condition.wireName() + "\"";
  }

  // ---- housekeeping

  private void sweep() {
    if (store instanceof InMemorySessionStore mem) {
      mem.purgeExpired();
    }
    if (sweeping || links.isEmpty()) {
      return;
    }
    sweeping = true;
    List<String> owned = new ArrayList<>(links.keySet());
    store.existing(owned).onComplete(ar -> {
      sweeping = false;
      if (ar.failed()) {
        log.warn("session sweep failed: {}", ar.cause().getMessage());
        return;
      }
      for (String sid : owned) {
        if (!ar.result().contains(sid)) {
          // XEP-0124 §10: inactivity ends the session silently
          log.info("sid={} session expired or ended; closing upstream link", sid);
          abort(sid);
        }
      }
    });
  }

  /**
   * Ends every owned session with {@code system-shutdown} and closes the links.
   */
  public Future<Void> shutdown() {
    if (sweepTimer >= 0) {
      vertx.cancelTimer(sweepTimer);
    }
    List<Future<Void>> ends = new ArrayList<>();
    for (UpstreamLink link : new ArrayList<>(links.values())) {
      ends.add(ended(link.sid(), TerminateCondition.SYSTEM_SHUTDOWN, "").onComplete(ar -> link.shutdown()));
    }
    return Future.join(ends).mapEmpty();
  }
}
