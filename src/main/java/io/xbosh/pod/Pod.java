package io.xbosh.pod;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.xbosh.cluster.PodBus;
import io.xbosh.metrics.XboshMetrics;
import io.xbosh.protocol.BodyWriter;
import io.xbosh.protocol.Redact;
import io.xbosh.protocol.TerminateCondition;
import io.xbosh.session.Answer;
import io.xbosh.session.Forward;
import io.xbosh.session.InMemorySessionStore;
import io.xbosh.session.SessionStore;
import io.xbosh.session.SessionStore.Delivery;
import io.xbosh.upstream.SessionLinks;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This process's part of a deployment: its id, the session store, the upstream links it owns and
 * the HTTP requests it holds. Shared by the HTTP verticle instances; sockets stay on the event loop
 * that opened them and are reached through their own methods.
 *
 * <p>Both maps hold sockets, not session state: everything another pod would need is in the store.
 */
public final class Pod implements SessionLinks.Owner, PodBus.Listener {

  private static final Logger log = LoggerFactory.getLogger(Pod.class);
  /** Store calls a fan-out over owned sessions keeps in flight at once. */
  static final int FAN_OUT = 64;
  /** Retries of a failed take of payloads: with backoff up to 2 s, about 30 s in all. */
  private static final int DRAIN_RETRIES = 20;

  /**
   * How a session ends when the pod that held its server connection is gone (killed, crashed, or
   * restarted without its links): {@code internal-server-error}, the connection manager's own
   * failure in XEP-0124's table of terminal conditions, not {@code remote-connection-failed}, which
   * says the server could not be reached (and which Converse.js treats like a wrong address: login
   * form, no reconnect). Every client that reconnects on its own does so on this one
   * (docs/ARCHITECTURE.md, "Many pods").
   */
  public static final TerminateCondition OWNER_LOST = TerminateCondition.INTERNAL_SERVER_ERROR;

  private final Vertx vertx;
  private final String id;
  private final SessionStore store;
  private final PodBus bus;
  private final XboshMetrics metrics;
  private final int maxSessions;
  private final int maxHeld;
  private final Map<String, SessionLinks> links = new ConcurrentHashMap<>();
  private final Map<String, HeldRequest> held = new ConcurrentHashMap<>();
  /** What the session-end log line says about each owned session. */
  private final Map<String, Owned> owned = new ConcurrentHashMap<>();
  private final AtomicLong holderSeq = new AtomicLong();
  /** every held request's wait, on one periodic timer */
  private final TimerWheel wheel;
  private long sweepTimer = -1;
  private volatile boolean sweeping;
  private volatile boolean draining;
  private volatile boolean warmingUp;

  public Pod(Vertx vertx, String id, SessionStore store, PodBus bus, XboshMetrics metrics, int maxSessions, int maxHeld) {
    this.vertx = vertx;
    this.id = id;
    this.store = store;
    this.bus = bus;
    this.metrics = metrics;
    metrics.bindPod(links::size, held::size);
    this.maxSessions = maxSessions;
    this.maxHeld = maxHeld;
    store.forwardsTaken(sid -> {
      SessionLinks l = links.get(sid);
      return l == null ? 0 : l.forwardsTaken();
    });
    // one fence per tick in which waits of requests with a store deadline end (a PING on the pod
    // channel; on a Redis Cluster one per master whose sharded channels those requests listen on)
    this.wheel = new TimerWheel(vertx, (long[] channels) -> bus.fence(channels)
        .map(vouched -> channel -> vouched.test(channel) ? channel : TimerWheel.FENCE_FAILED));
    wheel.start();
  }

  public String id() {
    return id;
  }

  public SessionStore store() {
    return store;
  }

  public XboshMetrics metrics() {
    return metrics;
  }

  public Vertx vertx() {
    return vertx;
  }

  /** The timer wheel every held request of this pod waits on. */
  TimerWheel wheel() {
    return wheel;
  }

  /** The pod's channel now, as {@link PodBus#channel}; a held request notes it when registered. */
  long channel() {
    return bus.channel();
  }

  /** Where a request of the session held here gets its answers, as {@link PodBus#listening}. */
  PodBus.Listening listening(String sid) {
    return bus.listening(sid);
  }

  /**
   * Scripts of this pod per session that are in flight or whose reply's answers are not yet
   * dispatched: an answer they carry for a request this pod holds reaches it only in the reply (the
   * store publishes answers for other pods' requests only), so while one is, a request of the session
   * whose wait ends asks the store instead of answering empty by itself. Entries go at zero.
   */
  private final Map<String, AtomicInteger> scripts = new ConcurrentHashMap<>();

  /**
   * Counts a script call of this pod on the session that may answer requests held here, from before
   * it is sent until {@code call}'s callbacks registered so far (the dispatch of its answers) have run.
   */
  public <T> Future<T> answering(String sid, java.util.function.Supplier<Future<T>> call) {
    scripts.computeIfAbsent(sid, k -> new AtomicInteger()).incrementAndGet();
    Future<T> f;
    try {
      f = call.get();
    } catch (RuntimeException e) {
      scriptDone(sid);
      throw e;
    }
    return f;
  }

  /** The reply of a script counted by {@link #answering} has been dealt with (its answers dispatched). */
  public void scriptDone(String sid) {
    scripts.computeIfPresent(sid, (k, n) -> n.decrementAndGet() <= 0 ? null : n);
  }

  /** Whether a script of this pod on the session is in flight, or its answers are not dispatched yet. */
  boolean scriptsInFlight(String sid) {
    return sid != null && scripts.containsKey(sid);
  }

  /** Joins the deployment's bus and starts the sweep that closes links of sessions that expired or ended elsewhere. */
  public Future<Void> start(long sweepMs) {
    return bus.start(this).onSuccess(v -> sweepTimer = vertx.setPeriodic(sweepMs, t -> sweep()));
  }

  /** Start-up is over (the HTTP listeners are up). */
  public void serving() {
    bus.serving();
  }

  /** Ready for new sessions: warmed up, not draining, and the store's pod channel is working. */
  public boolean ready() {
    return !draining && !warmingUp && bus.healthy();
  }

  /**
   * While on, {@code /ready} answers 503: the pod serves whoever reaches it, but its request path
   * is still being compiled (see {@code io.xbosh.warmup.Warmup}), so the deployment sends it no one.
   */
  public void warmingUp(boolean on) {
    warmingUp = on;
  }

  public boolean warmingUp() {
    return warmingUp;
  }

  public boolean draining() {
    return draining;
  }

  /**
   * Starts leaving the deployment: held requests are answered at once (through the store, so
   * nothing racing is lost) and new ones are not held, so clients poll through other pods; new
   * sessions are refused; the links this pod owns keep working until their sessions end or
   * {@code drainMs} passes. A pod with no other pod to send its clients to (the in-process store,
   * or the only live pod on Redis) keeps holding requests for their whole wait instead: answering
   * at once would only make every client poll it again in a busy loop until the drain ends.
   *
   * @return completes when no link is left or the time is up
   */
  public Future<Void> drain(long drainMs) {
    draining = true;
    boolean alone = alone();
    if (!alone) {
      held.values().forEach(HeldRequest::expireNow);
    }
    log.info("draining: {} sessions owned, waiting up to {} ms for them to end; {}", links.size(), drainMs,
        alone ? "no other pod is alive: requests are still held" : "held requests are answered at once");
    Promise<Void> done = Promise.promise();
    long deadline = System.nanoTime() + drainMs * 1_000_000L;
    vertx.setPeriodic(100, t -> {
      if (links.isEmpty() || System.nanoTime() >= deadline) {
        vertx.cancelTimer(t);
        done.tryComplete();
      }
    });
    return done.future();
  }

  /**
   * Whether a request is answered as soon as it is settled instead of held for its wait: while
   * draining, when another pod is alive (or this pod cannot tell) for the client to poll through.
   */
  public boolean answersAtOnce() {
    return draining && !alone();
  }

  /** No other pod is alive to take this pod's clients: the in-process store, or the last pod on Redis. */
  private boolean alone() {
    return bus.otherLivePods() == 0;
  }

  /** Other live pods of the deployment as far as this pod knows, -1 while it does not know. */
  public int otherLivePods() {
    return bus.otherLivePods();
  }

  /** Whether the pod that owns a session can be reached. */
  public boolean reachable(String owner) {
    return owner == null || bus.alive(owner);
  }

  // ---- links

  public boolean atSessionCapacity() {
    return links.size() >= maxSessions;
  }

  public int ownedSessions() {
    return links.size();
  }

  /** Whether this pod holds upstream links of the session. */
  public boolean owns(String sid) {
    return links.containsKey(sid);
  }

  /** Takes a new session's links and starts them. */
  public void own(SessionLinks session) {
    own(session, "-");
  }

  /** Takes a new session's links, begun by a client at this address, and starts them. */
  public void own(SessionLinks session, String client) {
    own(session, client, 0);
  }

  /**
   * Takes a new session's links and starts them; {@code inactivitySeconds} is the session's
   * inactivity (XEP-0124 §10), from which the expiry index knows when to look at it (0: at every
   * sweep).
   */
  public void own(SessionLinks session, String client, int inactivitySeconds) {
    owned.put(session.sid(), new Owned(session.sid(), System.nanoTime(), client, inactivitySeconds * 1000L));
    links.put(session.sid(), session);
    bus.owned(session.sid());
    session.start();
  }

  /**
   * Hands client payloads released by this pod's request to the link. (When another pod owns the
   * link, the store has already handed them over and the list is empty.)
   *
   * @return false when this pod should own the link but does not have it any more: the session is
   *     being ended ({@code remote-connection-failed})
   */
  public boolean forward(String sid, List<Forward> forwards) {
    if (forwards.isEmpty()) {
      return true;
    }
    SessionLinks session = links.get(sid);
    if (session == null) {
      endLost(sid);
      return false;
    }
    noteForwards(sid, forwards);
    session.forward(forwards);
    return true;
  }

  /**
   * Whether this pod owns the session's links and one of them cannot take more payloads now (its
   * server is not reading): a request carrying payloads is then refused with a recoverable error,
   * so the client sends it again later.
   */
  public boolean congested(String sid) {
    SessionLinks session = links.get(sid);
    return session != null && session.congested();
  }

  /**
   * The store names this pod as the session's owner but its links are gone (a link that vanished
   * without its end reaching the store): the session ends, or it would live on with nobody to
   * carry its payloads.
   */
  private void endLost(String sid) {
    log.warn("sid={} this pod owns the session but has no upstream link for it; ending the session", sid);
    answering(sid, () -> store.terminate(sid, BodyWriter.terminateOpen(TerminateCondition.REMOTE_CONNECTION_FAILED), ""))
        .onSuccess(t -> {
          if (t.ended()) {
            metrics.terminated("link_lost");
          }
          dispatch(t.answers());
        })
        .onFailure(e -> log.warn("sid={} ending a session without its link failed: {}", sid, e.getMessage()))
        .onComplete(ar -> scriptDone(sid));
  }

  /**
   * Closes the links of a session that is over, when this pod owns them: payloads other pods
   * accepted go first (a terminate may be among them), then the stanzas the client never got go
   * back to the server (XEP-0206 §7), then the links close without a stream end.
   */
  public void retire(String sid) {
    retiring(sid);
  }

  private Future<Void> retiring(String sid) {
    SessionLinks session = links.get(sid);
    if (session == null) {
      return Future.succeededFuture();
    }
    return store.drain(sid)
        .onSuccess(forwards -> {
          noteForwards(sid, forwards);
          session.forward(forwards);
        })
        .transform(ignored -> store.leftovers(sid))
        .transform(left -> {
          if (left.succeeded()) {
            session.bounce(left.result());
          } else {
            log.warn("sid={} taking the stanzas the client never got failed: {}", sid, left.cause().getMessage());
          }
          session.abort();
          return Future.<Void>succeededFuture();
        });
  }

  /**
   * Runs {@code op} on each item, at most {@value #FAN_OUT} at a time: a pod owning thousands of
   * sessions must not lease thousands of store connections at once.
   *
   * @return completes when every item's operation has completed (failed or not)
   */
  static <T> Future<Void> inTurn(Collection<T> items, Function<T, Future<?>> op) {
    List<T> list = new ArrayList<>(items);
    if (list.isEmpty()) {
      return Future.succeededFuture();
    }
    Promise<Void> done = Promise.promise();
    AtomicInteger next = new AtomicInteger();
    int workers = Math.min(FAN_OUT, list.size());
    AtomicInteger running = new AtomicInteger(workers);
    for (int w = 0; w < workers; w++) {
      step(list, next, running, op, done);
    }
    return done.future();
  }

  private static <T> void step(List<T> list, AtomicInteger next, AtomicInteger running, Function<T, Future<?>> op,
      Promise<Void> done) {
    while (true) {
      int i = next.getAndIncrement();
      if (i >= list.size()) {
        if (running.decrementAndGet() == 0) {
          done.complete();
        }
        return;
      }
      Future<?> f;
      try {
        f = op.apply(list.get(i));
      } catch (RuntimeException e) {
        log.warn("{}", e.toString());
        continue;
      }
      if (!f.isComplete()) {
        f.onComplete(ar -> step(list, next, running, op, done));
        return;
      }
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
    return newHolder("");
  }

  /** A holder id unique in the deployment, {@code pod#n} followed by the suffix of {@link PodBus.Listening}. */
  String newHolder(String suffix) {
    return id + "#" + Long.toHexString(holderSeq.incrementAndGet()) + suffix;
  }

  void hold(HeldRequest request) {
    held.put(request.holder(), request);
  }

  void unhold(HeldRequest request) {
    held.remove(request.holder(), request);
  }

  /** The requests this pod holds, for tests. */
  List<HeldRequest> heldList() {
    return List.copyOf(held.values());
  }

  /**
   * Writes answers the store decided to the requests this pod holds. Answers for other pods'
   * requests were published to them by the store; an answer whose request is gone (the client gave
   * up on it) stays buffered for the client's resend.
   */
  public void dispatch(List<Answer> answers) {
    for (Answer a : answers) {
      answer(a.holder(), a.body());
    }
  }

  // ---- PodBus.Listener

  @Override
  public void answer(String holder, String body) {
    HeldRequest r = held.get(holder);
    if (log.isTraceEnabled()) {
      log.trace("answer holder={} local={} body={}", holder, r != null, Redact.sasl(body));
    }
    if (r != null) {
      r.answer(body);
    }
  }

  @Override
  public void payloadsWaiting(String sid) {
    takePayloads(sid);
  }

  private Future<?> takePayloads(String sid) {
    return takePayloads(sid, 0);
  }

  /**
   * Payloads wait in the store until the owner takes them; a failed take (the session's Redis node
   * failing over) is retried with backoff while the link lasts, since no second notice will come.
   */
  private Future<?> takePayloads(String sid, int attempt) {
    SessionLinks session = links.get(sid);
    if (session == null) {
      if (attempt == 0) {
        // the store published this notice because it names this pod as the owner
        endLost(sid);
      }
      return Future.succeededFuture();
    }
    if (session.congested()) {
      // while the server is not reading, the payloads wait in the store
      session.drainWhenWritable(() -> drainTo(session, attempt));
      return Future.succeededFuture();
    }
    return drainTo(session, attempt);
  }

  private Future<?> drainTo(SessionLinks session, int attempt) {
    String sid = session.sid();
    return store.drain(sid)
        .onSuccess(forwards -> {
          noteForwards(sid, forwards);
          session.forward(forwards);
          if (attempt > 0) {
            // a failed take may have run and lost only its reply: what it took is kept by number
            // (drain.lua) and taken again from there; what was applied is ignored by number
            session.recover();
          }
        })
        .onFailure(e -> {
          if (attempt >= DRAIN_RETRIES) {
            log.warn("sid={} taking payloads from other pods failed {} times, giving up: {}", sid, attempt + 1, e.getMessage());
            return;
          }
          log.warn("sid={} taking payloads from other pods failed (retrying): {}", sid, e.getMessage());
          vertx.setTimer(Math.min(2000, 100L << Math.min(attempt, 5)), t -> takePayloads(sid, attempt + 1));
        });
  }

  @Override
  public void endedElsewhere(String sid) {
    checkSoon(sid);
  }

  @Override
  public void resubscribed() {
    inTurn(links.keySet(), this::takePayloads);
    // answers published while the channel was down are lost: ask the store for what is owed. A
    // request whose accept is still on its way is asked about once it settles (it may have been
    // accepted, and answered, before the channel came back).
    long epoch = channelEpoch.incrementAndGet();
    List<HeldRequest> waiting = new ArrayList<>();
    for (HeldRequest r : held.values()) {
      r.recheckOnSettle();
      if (r.waiting()) {
        waiting.add(r);
      }
    }
    recoverAnswers(waiting, epoch, RECOVERY_FIRST_RETRY_MS);
  }

  @Override
  public void answersMaybeLost(java.util.function.LongPredicate channels) {
    // a sharded channel dropped or moved: what was published to it meanwhile may be lost
    List<HeldRequest> waiting = new ArrayList<>();
    for (HeldRequest r : held.values()) {
      if (channels.test(r.channel())) {
        r.recheckOnSettle();
        if (r.waiting()) {
          waiting.add(r);
        }
      }
    }
    if (!waiting.isEmpty()) {
      recoverAnswers(waiting, channelEpoch.get(), RECOVERY_FIRST_RETRY_MS);
    }
  }

  /** Held requests asked about at once when the channel comes back; the next chunk follows. */
  static final int RECOVERY_CHUNK = 64;
  /** First pause before asking again about the requests the store could not answer for; doubles up to the next. */
  static final long RECOVERY_FIRST_RETRY_MS = 200;
  static final long RECOVERY_MAX_RETRY_MS = 2000;

  /** Counts the channel's returns: a recovery still retrying for an earlier one gives way to the newer. */
  private final AtomicLong channelEpoch = new AtomicLong();

  /** A request that settled after the channel came back: ask the store whether it is owed an answer already. */
  void recoverAnswer(HeldRequest r) {
    recoverAnswers(List.of(r), channelEpoch.get(), RECOVERY_FIRST_RETRY_MS);
  }

  /**
   * Fetches the answers owed to held requests. One the store cannot answer for (Redis still loading
   * its data after a restart, the session's shard failing over) is asked about again, until the
   * store answers or the request is done: given up on, its owed answer would wait for the end of
   * its wait, by when the cached response may be gone and the client's resend meet item-not-found.
   */
  private void recoverAnswers(List<HeldRequest> requests, long epoch, long retryMs) {
    java.util.Queue<HeldRequest> failed = new java.util.concurrent.ConcurrentLinkedQueue<>();
    recoverAnswers(requests, 0, failed).onComplete(v -> {
      List<HeldRequest> again = failed.stream().filter(HeldRequest::waiting).toList();
      if (again.isEmpty() || epoch != channelEpoch.get()) {
        return;
      }
      log.warn("recovering answers of {} held requests failed; asking again in {} ms", again.size(), retryMs);
      vertx.setTimer(retryMs, t -> recoverAnswers(again, epoch, Math.min(retryMs * 2, RECOVERY_MAX_RETRY_MS)));
    });
  }

  /** One pass over {@code requests}, a chunk at a time; those the store failed for go to {@code failed}. */
  private Future<Void> recoverAnswers(List<HeldRequest> requests, int from, java.util.Queue<HeldRequest> failed) {
    if (from >= requests.size()) {
      return Future.succeededFuture();
    }
    List<Future<?>> chunk = new ArrayList<>(RECOVERY_CHUNK);
    for (HeldRequest r : requests.subList(from, Math.min(from + RECOVERY_CHUNK, requests.size()))) {
      if (r.waiting()) {
        chunk.add(store.answered(r.sid(), r.rid(), r.holder()).onSuccess(body -> {
          if (body != null) {
            log.debug("sid={} rid={} answer recovered after the channel came back", r.sid(), r.rid());
            r.answer(body);
          }
        }).onFailure(e -> {
          log.debug("sid={} rid={} recovering the answer failed: {}", r.sid(), r.rid(), e.getMessage());
          failed.add(r);
        }));
      }
    }
    return Future.join(chunk).transform(ar -> recoverAnswers(requests, from + RECOVERY_CHUNK, failed));
  }

  @Override
  public void orphaned(Set<String> sids) {
    inTurn(sids, sid -> {
      if (links.containsKey(sid)) {
        return Future.succeededFuture(); // still ours after all
      }
      return answering(sid, () -> store.terminate(sid, BodyWriter.terminateOpen(OWNER_LOST), ""))
          .onSuccess(t -> {
            if (t.ended()) {
              metrics.terminated("owner_lost");
            }
            dispatch(t.answers());
          })
          .onFailure(e -> log.warn("sid={} ending an orphaned session failed: {}", sid, e.getMessage()))
          .onComplete(ar -> scriptDone(sid));
    });
  }

  @Override
  public Future<Void> evicted() {
    // the sessions were ended in the store by the pod that declared this one dead; what other pods
    // accepted still goes to the server, what the client never got is bounced, then the links close
    log.warn("closing the {} links this pod held when it was declared dead", links.size());
    return inTurn(links.keySet(), this::retiring);
  }

  @Override
  public Set<String> ownedSids() {
    return Set.copyOf(links.keySet());
  }

  // ---- SessionLinks.Owner

  @Override
  public Future<Delivery> deliver(String sid, String stream, String token, List<String> stanzas) {
    return answering(sid, () -> store.deliver(sid, stream, token, stanzas)).onSuccess(d -> {
      if (d.status() == Delivery.Status.OK) {
        metrics.stanzasOut(stanzas.size());
        if (!d.answers().isEmpty()) {
          // an answer resets the session's time to live (server traffic alone does not)
          sawActivity(sid);
        }
      } else if (d.gone()) {
        checkSoon(sid);
      }
      dispatch(d.answers());
    }).onComplete(ar -> scriptDone(sid));
  }

  @Override
  public Future<Void> ended(String sid, String stream, TerminateCondition condition, String children) {
    return recordEnd(sid, answering(sid, () -> store.endStream(sid, stream, BodyWriter.terminateOpen(condition), children)),
        condition == null ? "server_closed" : condition.wireName());
  }

  /** Ends a whole session from the server side (all its streams). */
  private Future<Void> endSession(String sid, TerminateCondition condition) {
    return recordEnd(sid, answering(sid, () -> store.terminate(sid, BodyWriter.terminateOpen(condition), "")), condition.wireName());
  }

  /** @param ending a call counted by {@link #answering} */
  private Future<Void> recordEnd(String sid, Future<SessionStore.Terminated> ending, String reason) {
    return ending
        .onSuccess(t -> {
          if (t.ended()) {
            endedBecause(sid, reason);
            metrics.terminated(reason);
          }
          dispatch(t.answers());
        })
        .onFailure(e -> log.warn("sid={} could not record the end of the session: {}", sid, e.getMessage()))
        .onComplete(ar -> scriptDone(sid))
        .mapEmpty();
  }

  @Override
  public void failed(String sid, TerminateCondition condition) {
    endSession(sid, condition).onComplete(ar -> retire(sid));
  }

  /** A rid of a session this pod owns was resent: forwards its lost reply carried are taken again. */
  public void recoverForwards(String sid) {
    SessionLinks session = links.get(sid);
    if (session != null) {
      session.recover();
    }
  }

  @Override
  public Future<List<Forward>> missing(String sid, long from) {
    // accepted here (the reply was lost) or elsewhere (the notice was lost)
    return store.drain(sid).compose(handed -> store.forwardsFrom(sid, from).map(kept -> {
      List<Forward> all = new ArrayList<>(handed);
      all.addAll(kept);
      return all;
    }));
  }

  @Override
  public void closed(SessionLinks session) {
    if (links.remove(session.sid(), session)) {
      bus.disowned(session.sid());
      Owned o = owned.remove(session.sid());
      if (o != null) {
        // the one line per session end, on the pod that owned it
        log.info("sid={} session ended condition={} duration_ms={} streams={} client={}", session.sid(),
            o.condition == null ? "closed" : XboshMetrics.label(o.condition), (System.nanoTime() - o.since) / 1_000_000,
            o.streams, o.client);
      }
    }
  }

  // ---- what the admin API shows and does (this pod's own sessions)

  /**
   * An owned session as the admin API shows it: nothing of its content, no SASL data. {@code jid} is
   * the first stream's bound JID (null until bound), {@code streamJids} those of further streams by
   * name; {@code held} counts the session's requests held on this pod (others may be held elsewhere).
   */
  public record SessionView(String sid, String client, long ageSeconds, int streams, String jid, Map<String, String> streamJids,
      int held) {
  }

  /** The sessions whose links this pod holds, oldest first. */
  public List<SessionView> sessions() {
    long now = System.nanoTime();
    Map<String, Integer> heldBySid = new java.util.HashMap<>();
    held.values().forEach(r -> {
      String sid = r.sid();
      if (sid != null && r.waiting()) {
        heldBySid.merge(sid, 1, Integer::sum);
      }
    });
    List<SessionView> out = new ArrayList<>();
    owned.forEach((sid, o) -> out.add(view(sid, o, now, heldBySid.getOrDefault(sid, 0))));
    out.sort(java.util.Comparator.comparingLong(SessionView::ageSeconds).reversed().thenComparing(SessionView::sid));
    return out;
  }

  /** The deployment's pods as the bus knows them, this one always among them, sorted. */
  public Future<List<String>> pods() {
    return bus.pods().map(ids -> {
      java.util.TreeSet<String> all = new java.util.TreeSet<>(ids);
      all.add(id);
      return List.copyOf(all);
    });
  }

  /** One owned session, or null. */
  public SessionView session(String sid) {
    Owned o = owned.get(sid);
    if (o == null) {
      return null;
    }
    int n = (int) held.values().stream().filter(r -> sid.equals(r.sid()) && r.waiting()).count();
    return view(sid, o, System.nanoTime(), n);
  }

  private SessionView view(String sid, Owned o, long now, int heldHere) {
    SessionLinks session = links.get(sid);
    String jid = session == null ? null : session.jid();
    Map<String, String> further = new java.util.TreeMap<>();
    if (session != null) {
      session.jids().forEach((stream, bound) -> {
        if (!stream.isEmpty() && !stream.equals(session.firstStream())) {
          further.put(stream, bound);
        }
      });
    }
    return new SessionView(sid, o.client, (now - o.since) / 1_000_000_000L, o.streams, jid, further, heldHere);
  }

  /**
   * Ends an owned session with a condition, as if its XMPP server had: held requests get the
   * terminate body, the client's stanzas not yet delivered bounce, the links close.
   *
   * @return false when this pod does not own it
   */
  public Future<Boolean> end(String sid, TerminateCondition condition) {
    if (!links.containsKey(sid)) {
      return Future.succeededFuture(false);
    }
    log.info("sid={} ended by an operator with {}", sid, condition.wireName());
    return endSession(sid, condition).onComplete(ar -> retire(sid)).map(true);
  }

  /**
   * Per owned session, for its end line: when and from where it began, streams opened, why it
   * ended; and for the expiry index, its inactivity and when the sweep looks at it next.
   */
  private static final class Owned {
    /** the session's id as this pod keeps it (the map's key, its links') */
    final String sid;
    final long since;
    final String client;
    final long inactivityMs;
    volatile int streams = 1;
    volatile String condition;
    /** System.nanoTime() before which the session cannot have expired, as far as this pod saw */
    volatile long checkAt;
    /** System.nanoTime() when this pod last saw the session alive (guarded by this) */
    long seenAt;

    Owned(String sid, long since, String client, long inactivityMs) {
      this.sid = sid;
      this.since = since;
      this.client = client;
      this.inactivityMs = inactivityMs;
      // XEP-0124 §10: a new session lives for its inactivity until its next request
      this.checkAt = since + inactivityMs * 1_000_000L;
      this.seenAt = since;
    }
  }

  /**
   * The string this pod already keeps for the id of a session it owns, else {@code sid} itself: a
   * held request keeps its session's id for its whole wait, and the one parsed from each request
   * would be a copy (64 bytes per idle session).
   */
  public String sharedSid(String sid) {
    Owned o = sid == null ? null : owned.get(sid);
    return o == null ? sid : o.sid;
  }

  // ---- the expiry index: what this pod saw of its own sessions, instead of reading each one every sweep

  /**
   * A store call of this pod on a session it owns completed and left it alive (deliver, release,
   * abandon, an accept answered at once): its keys live for at least its inactivity from now.
   */
  public void sawActivity(String sid) {
    Owned o = owned.get(sid);
    if (o != null) {
      synchronized (o) {
        long now = System.nanoTime();
        o.checkAt = now + o.inactivityMs * 1_000_000L;
        o.seenAt = now;
      }
    }
  }

  /**
   * An accept of this pod on a session it owns left the request held: the keys live for the wait
   * plus the inactivity (XEP-0124 §10: the inactivity clock starts once nothing is held). Only a
   * pause or an abandoned request on another pod can shorten that; the sweep then finds the expiry
   * up to {@code wait} late. When another answer was seen since the accept was sent, which of the
   * two ran last in the store is not known: the earlier moment stands.
   *
   * @param sentNanos System.nanoTime() when the accept was sent
   */
  public void sawHeld(String sid, int waitSeconds, long sentNanos) {
    Owned o = owned.get(sid);
    if (o != null) {
      synchronized (o) {
        long now = System.nanoTime();
        long at = now + (waitSeconds * 1000L + o.inactivityMs) * 1_000_000L;
        o.checkAt = o.seenAt - sentNanos > 0 ? Math.min(o.checkAt, at) : at;
        o.seenAt = now;
      }
    }
  }

  /** The session may have ended (the store said so to this pod): the next sweep looks at it. */
  public void checkSoon(String sid) {
    Owned o = owned.get(sid);
    if (o != null) {
      o.checkAt = System.nanoTime();
    }
  }

  private void endedBecause(String sid, String condition) {
    Owned o = owned.get(sid);
    if (o != null && o.condition == null) {
      o.condition = condition;
    }
  }

  /** A client terminate and new streams among forwards, for the end line. */
  private void noteForwards(String sid, List<Forward> forwards) {
    Owned o = owned.get(sid);
    if (o == null) {
      return;
    }
    for (Forward f : forwards) {
      if (f.open()) {
        o.streams++;
      }
      if (f.terminate() && f.stream() == null) {
        endedBecause(sid, "client");
      }
    }
  }

  // ---- housekeeping

  /**
   * Sessions the sweep reads at most per round (two commands each, pipelined): a pod that finds
   * thousands due at once (after a restart of Redis, say) spreads them over several sweeps.
   */
  static final int SWEEP_CHECKS_AT_MOST = 1000;

  /**
   * Closes the links of sessions that expired or ended elsewhere. Only sessions whose index time
   * has come are read (their fields and time to live): one this pod saw alive a moment ago cannot
   * have expired yet, so a pod whose clients poll through it reads nothing for them. One still
   * alive gets its index time from its time to live.
   */
  private void sweep() {
    if (store instanceof InMemorySessionStore mem) {
      mem.purgeExpired();
    }
    if (sweeping || links.isEmpty()) {
      return;
    }
    long now = System.nanoTime();
    List<String> due = new ArrayList<>();
    for (Map.Entry<String, Owned> e : owned.entrySet()) {
      if (e.getValue().checkAt - now <= 0 && links.containsKey(e.getKey())) {
        due.add(e.getKey());
        if (due.size() >= SWEEP_CHECKS_AT_MOST) {
          break;
        }
      }
    }
    if (due.isEmpty()) {
      return;
    }
    sweeping = true;
    store.lifetimes(due).onComplete(ar -> {
      sweeping = false;
      if (ar.failed()) {
        log.warn("session sweep failed: {}", ar.cause().getMessage());
        return;
      }
      SessionStore.Lifetimes found = ar.result();
      for (String sid : due) {
        Long left = found.live().get(sid);
        if (left != null) {
          Owned o = owned.get(sid);
          if (o != null && o.checkAt - now <= 0) {
            // nothing newer seen meanwhile: look again when its keys would run out
            o.checkAt = now + left * 1_000_000L;
          }
          continue;
        }
        // XEP-0124 §10: inactivity ends the session silently; retire() forwards what other pods
        // accepted (a terminate may wait there) and bounces what the client never got. (Ended
        // sessions were counted where they ended.)
        boolean expired = !found.ended().contains(sid);
        log.debug("sid={} session {}; closing upstream link", sid, expired ? "expired" : "ended");
        endedBecause(sid, expired ? "inactivity" : "ended-elsewhere");
        if (expired) {
          metrics.terminated("inactivity");
        }
        retire(sid);
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
    for (SessionLinks session : new ArrayList<>(links.values())) {
      ends.add(endSession(session.sid(), TerminateCondition.SYSTEM_SHUTDOWN)
          .transform(ignored -> store.leftovers(session.sid()))
          .onSuccess(session::bounce)
          .<Void>mapEmpty()
          .onComplete(ar -> session.shutdown()));
    }
    return Future.join(ends).onComplete(ar -> wheel.stop()).compose(v -> bus.stop(), e -> bus.stop());
  }
}
