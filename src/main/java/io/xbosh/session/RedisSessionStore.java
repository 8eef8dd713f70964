package io.xbosh.session;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.xbosh.metrics.XboshMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import io.xbosh.protocol.BodyWriter;
import io.xbosh.protocol.BoshException;
import io.xbosh.protocol.TerminateCondition;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link SessionStore} on Redis: each operation is one {@code FCALL} of a function of the store's
 * Lua library ({@link ScriptLibrary}, loaded again when Redis answers that it has no such function),
 * or on a Redis without functions one {@code EVALSHA} of the same script (reloaded with {@code EVAL}
 * on {@code NOSCRIPT}), over the keys {@code xb:{sid}}, {@code xb:{sid}:o} and
 * {@code xb:{sid}:i} that share a hash tag, so it runs unchanged on Redis Cluster. The scripts
 * publish answers for requests held by other pods, and hand client payloads to an owner on another
 * pod, on the pods' channels ({@code xb:pod:<id>}); see {@code prelude.lua}.
 */
public final class RedisSessionStore implements SessionStore {

  private static final Logger log = LoggerFactory.getLogger(RedisSessionStore.class);

  private final Redis redis;
  private final boolean ownsClient;
  private final String podId;
  private final MeterRegistry meters;
  private final LuaScript drain;
  private final Map<String, Timer[]> timers = new java.util.HashMap<>();
  /** script calls sent and not yet answered, for {@code xbosh.redis.inflight} */
  private final java.util.concurrent.atomic.AtomicInteger inFlight = new java.util.concurrent.atomic.AtomicInteger();
  private final io.micrometer.core.instrument.Counter poolBusy;
  private final LuaScript create;
  private final LuaScript accept;
  /** how far the owner's links took each session's forwards, see {@link SessionStore#forwardsTaken} */
  private volatile java.util.function.ToLongFunction<String> forwardsTaken = sid -> 0;
  private final LuaScript deliver;
  private final LuaScript release;
  private final LuaScript terminate;
  private final LuaScript leftovers;
  private final LuaScript abandon;
  private final LuaScript answered;
  private final LuaScript forwardsFrom;
  /**
   * How the scripts run: as functions of {@link #library} while Redis has functions, else as
   * scripts with their Redis 7 flags, else (Redis 6 cannot compile flags) plain scripts. Moves
   * only down, each step logged once.
   */
  private enum Mode { FUNCTIONS, SCRIPTS, PLAIN_SCRIPTS }

  private volatile Mode mode = Mode.FUNCTIONS;
  private final ScriptLibrary library;
  /** The library's load under way, shared by every call that found it missing; null when none. */
  private Future<Void> loading;
  private final Object loadingLock = new Object();
  /**
   * Where the event loops' own connections come from (see {@link #send}): a client of their own,
   * so that they never take the connections the pool lends per call; null: every call leases one.
   */
  private final Redis loopClient;
  /** event loops that get a connection of their own at most; others lease per call */
  private final int maxLoopConnections;
  /** the connection of each event loop, while it lives; from any thread */
  private final Map<io.netty.channel.EventLoop, LoopConnection> loopConnections = new java.util.concurrent.ConcurrentHashMap<>();

  /**
   * Calls in flight on one loop's connection at most; a call beyond it leases a pooled connection.
   * The client's own queue of calls awaiting replies ({@code maxWaitingHandlers}, at least this
   * many: {@link RedisClients#loopConnections}) fails a call that finds it full, and a failure
   * that is not Redis' answer lets the loop's connection go with everything still on it; a burst
   * that deep spills to the pool instead.
   */
  public static final int MAX_LOOP_IN_FLIGHT = 1024;

  /** A loop's own connection and its calls sent and not yet answered. */
  private record LoopConnection(Future<RedisConnection> connection, java.util.concurrent.atomic.AtomicInteger inFlight) {
    LoopConnection(Future<RedisConnection> connection) {
      this(connection, new java.util.concurrent.atomic.AtomicInteger());
    }
  }

  /**
   * @param redis            a pooled client
   * @param ownsClient       whether {@link #close()} closes the client
   * @param podId            the calling pod; answers for other pods' requests are published
   * @param maxOut           bound on stanzas waiting for a session's client
   * @param tombstoneSeconds how long an ended session answers with its final body
   */
  public RedisSessionStore(Redis redis, boolean ownsClient, String podId, int maxOut, int tombstoneSeconds) {
    this(redis, ownsClient, podId, maxOut, tombstoneSeconds, DEFAULT_MAX_STREAMS, new SimpleMeterRegistry());
  }

  /**
   * @param maxStreams streams a session may have open at once (XEP-0124 §16)
   * @param meters     where the time of each script call goes ({@code xbosh.redis.command}, by script)
   */
  public RedisSessionStore(Redis redis, boolean ownsClient, String podId, int maxOut, int tombstoneSeconds, int maxStreams,
      MeterRegistry meters) {
    this(redis, ownsClient, podId, maxOut, DEFAULT_MAX_QUEUED_BYTES, DEFAULT_MAX_RESPONSE_BYTES, tombstoneSeconds, maxStreams, meters);
  }

  /**
   * @param maxOutBytes      bound on bytes of stanzas waiting for a session's client
   * @param maxResponseBytes bytes of stanzas one response carries at most (at least one stanza)
   */
  public RedisSessionStore(Redis redis, boolean ownsClient, String podId, int maxOut, int maxOutBytes, int maxResponseBytes,
      int tombstoneSeconds, int maxStreams, MeterRegistry meters) {
    this(redis, ownsClient, podId, maxOut, maxOutBytes, maxResponseBytes, tombstoneSeconds, maxStreams, meters, null, 0, Map.of());
  }

  /**
   * @param loopClient         where the event loops' own connections come from, one each, kept
   *                           while they live: scripts sent from a loop are pipelined on its
   *                           connection (null: every call leases a pooled connection of
   *                           {@code redis}; a Redis Cluster client routes each call itself); its
   *                           pool must hold {@code maxLoopConnections} connections; closed with the store
   * @param maxLoopConnections event loops that get a connection of their own at most
   */
  public RedisSessionStore(Redis redis, boolean ownsClient, String podId, int maxOut, int maxOutBytes, int maxResponseBytes,
      int tombstoneSeconds, int maxStreams, MeterRegistry meters, Redis loopClient, int maxLoopConnections) {
    this(redis, ownsClient, podId, maxOut, maxOutBytes, maxResponseBytes, tombstoneSeconds, maxStreams, meters, loopClient,
        maxLoopConnections, Map.of());
  }

  /**
   * @param sourceEdits further text replacements in the scripts' source, for tests only: the
   *                    differential test reads the clock from a key instead of {@code TIME}
   */
  RedisSessionStore(Redis redis, boolean ownsClient, String podId, int maxOut, int maxOutBytes, int maxResponseBytes,
      int tombstoneSeconds, int maxStreams, MeterRegistry meters, Map<String, String> sourceEdits) {
    this(redis, ownsClient, podId, maxOut, maxOutBytes, maxResponseBytes, tombstoneSeconds, maxStreams, meters, null, 0, sourceEdits);
  }

  /** With the event loops' own connections, and {@code sourceEdits} as above (tests). */
  RedisSessionStore(Redis redis, boolean ownsClient, String podId, int maxOut, int maxOutBytes, int maxResponseBytes,
      int tombstoneSeconds, int maxStreams, MeterRegistry meters, Redis loopClient, int maxLoopConnections,
      Map<String, String> sourceEdits) {
    this.loopClient = loopClient;
    this.maxLoopConnections = loopClient == null ? 0 : maxLoopConnections;
    this.meters = meters;
    this.poolBusy = XboshMetrics.redisPoolBusy(meters);
    this.redis = redis;
    this.ownsClient = ownsClient;
    this.podId = podId;
    Map<String, String> constants = constants(maxOut, maxOutBytes, maxResponseBytes, tombstoneSeconds, maxStreams);
    if (!sourceEdits.isEmpty()) {
      Map<String, String> all = new java.util.LinkedHashMap<>(constants);
      all.putAll(sourceEdits);
      constants = all;
    }
    this.library = library(constants);
    this.create = script("create", constants);
    this.accept = script("accept", constants);
    this.deliver = script("deliver", constants);
    this.release = script("release", constants);
    this.terminate = script("terminate", constants);
    this.drain = script("drain", constants);
    this.leftovers = script("leftovers", constants);
    this.abandon = script("abandon", constants);
    this.answered = script("answered", constants);
    this.forwardsFrom = script("forwards", constants);
    for (LuaScript script : List.of(create, accept, deliver, release, abandon, answered, forwardsFrom, terminate, drain, leftovers)) {
      timers.put(script.name(), new Timer[] {timer(script, "ok"), timer(script, "error")});
    }
  }

  /** The scripts' constants: each placeholder of the Lua source and its value. */
  static Map<String, String> constants(int maxOut, int maxOutBytes, int maxResponseBytes, int tombstoneSeconds, int maxStreams) {
    Map<String, String> constants = new java.util.LinkedHashMap<>();
    constants.put("__OPEN__", LuaScript.quote(BodyWriter.OPEN));
    constants.put("__RECOVERABLE__", LuaScript.quote(BodyWriter.recoverableError()));
    constants.put("__TOMBSTONE_MS__", Long.toString(tombstoneSeconds * 1000L));
    constants.put("__MAX_OUT__", Integer.toString(maxOut));
    constants.put("__MAX_OUT_BYTES__", Integer.toString(maxOutBytes));
    constants.put("__MAX_BODY_BYTES__", Integer.toString(maxResponseBytes));
    constants.put("__KEPT_FORWARDS__", Integer.toString(KEPT_FORWARDS));
    constants.put("__UNDELIVERED_NS__", UNDELIVERED_NS);
    constants.put("__REPORT_GRACE_MS__", Long.toString(REPORT_GRACE_MS));
    constants.put("__MAX_STREAMS__", Integer.toString(maxStreams));
    constants.put("__RESEND_MARGIN_MS__", Long.toString(RESEND_MARGIN_MS));
    constants.put("__EXPIRY_MARGIN_MS__", Long.toString(EXPIRY_MARGIN_MS));
    return constants;
  }

  /** The scripts and their Redis flags, in one place for both forms (functions and scripts). */
  private static final List<ScriptLibrary.Script> SCRIPTS = List.of(new ScriptLibrary.Script("create", ""),
      new ScriptLibrary.Script("accept", ""), new ScriptLibrary.Script("deliver", ""), new ScriptLibrary.Script("release", ""),
      new ScriptLibrary.Script("terminate", ""), new ScriptLibrary.Script("drain", ""),
      new ScriptLibrary.Script("leftovers", ""), new ScriptLibrary.Script("abandon", ""),
      new ScriptLibrary.Script("answered", "no-writes"), new ScriptLibrary.Script("forwards", "no-writes"));

  static ScriptLibrary library(Map<String, String> constants) {
    return ScriptLibrary.load(SCRIPTS, constants);
  }

  private static LuaScript script(String name, Map<String, String> constants) {
    for (ScriptLibrary.Script s : SCRIPTS) {
      if (s.name().equals(name)) {
        return LuaScript.load(name, constants, s.flags());
      }
    }
    throw new IllegalArgumentException(name);
  }

  private Timer timer(LuaScript script, String outcome) {
    return XboshMetrics.redisScript(meters, script.name(), outcome);
  }

  static String sessionKey(String sid) {
    return "xb:{" + sid + "}";
  }

  static String outKey(String sid) {
    return "xb:{" + sid + "}:o";
  }

  static String inKey(String sid) {
    return "xb:{" + sid + "}:i";
  }

  @Override
  public Future<Void> create(SessionRecord r) {
    return eval(create, r.sid(), SessionField.createArguments(r))
        .compose(res -> res.toInteger() == 1 ? Future.succeededFuture()
            : Future.failedFuture(new IllegalStateException("sid collision")));
  }

  @Override
  public void forwardsTaken(java.util.function.ToLongFunction<String> taken) {
    this.forwardsTaken = taken;
  }

  @Override
  public Future<Accepted> accept(String sid, long rid, String holder, RequestFlags flags, String payload) {
    return eval(accept, sid, List.of(Long.toString(rid), holder, RequestFlagsCodec.encode(flags), payload,
        Long.toString(forwardsTaken.applyAsLong(sid)))).map(RedisSessionStore::toAccepted);
  }

  private static Accepted toAccepted(Response res) {
    String kind = res.get(0).toString();
    switch (kind) {
      case "gone" -> throw new BoshException(TerminateCondition.ITEM_NOT_FOUND, "unknown session");
      case "err" -> throw new BoshException(TerminateCondition.fromWireName(res.get(1).toString()), "refused by the session's rules")
          .forLegacy("1".equals(res.get(2).toString()));
      case "drop" -> {
        return Accepted.DROPPED;
      }
      case "ended" -> {
        return new Accepted(Accepted.Outcome.ENDED, null, false, null, 0, false, res.get(1).toString(), List.of(), List.of());
      }
      default -> {
        // handled below
      }
    }
    // interned: a held request keeps it for its whole wait, one copy per content type
    String content = res.get(1).toString().intern();
    boolean legacy = "1".equals(res.get(2).toString());
    String owner = res.get(3).toString();
    int wait = res.get(4).toInteger();
    boolean deadline = "1".equals(res.get(5).toString());
    return switch (kind) {
      case "parked" -> new Accepted(Accepted.Outcome.PARKED, content, legacy, owner, wait, false, null, List.of(), List.of());
      case "resent" -> new Accepted(Accepted.Outcome.RESENT, content, legacy, owner, wait, false, res.get(6).toString(), List.of(), List.of());
      case "takeover" -> new Accepted(Accepted.Outcome.TAKEOVER, content, legacy, owner, wait, deadline, null, List.of(),
          List.of(new Answer(0, res.get(6).toString(), BodyWriter.recoverableError())));
      case "ok" -> {
        int i = 6;
        int nf = res.get(i++).toInteger();
        List<Forward> forwards = forwards(res, i, nf);
        i += 3 * nf;
        List<Answer> answers = answers(res, i);
        yield new Accepted(Accepted.Outcome.PROCESSED, content, legacy, owner, wait, deadline, null, forwards, answers);
      }
      default -> throw new IllegalStateException("unexpected script result " + kind);
    };
  }

  private static List<Forward> forwards(Response res, int i, int n) {
    List<Forward> forwards = new ArrayList<>(n);
    for (int k = 0; k < n; k++, i += 3) {
      forwards.add(RequestFlagsCodec.forward(res.get(i).toLong(), res.get(i + 1).toString(), res.get(i + 2).toString()));
    }
    return forwards;
  }

  @Override
  public Future<List<Forward>> drain(String sid) {
    return eval(drain, sid, List.of()).map(res -> forwards(res, 0, res.size() / 3));
  }

  @Override
  public Future<List<Forward>> forwardsFrom(String sid, long from) {
    return eval(forwardsFrom, sid, List.of(Long.toString(from))).map(res -> forwards(res, 0, res.size() / 3));
  }

  private static List<Answer> answers(Response res, int i) {
    int n = res.get(i++).toInteger();
    List<Answer> answers = new ArrayList<>(n);
    for (int k = 0; k < n; k++, i += 3) {
      answers.add(new Answer(res.get(i).toLong(), res.get(i + 1).toString(), res.get(i + 2).toString()));
    }
    return answers;
  }

  @Override
  public Future<Delivery> deliver(String sid, String stream, String token, List<String> stanzas) {
    List<String> args = new ArrayList<>(stanzas.size() + 2);
    args.add(stream == null ? "" : stream);
    args.add(token == null ? "" : token);
    args.addAll(stanzas);
    return eval(deliver, sid, args).map(res -> switch (res.get(0).toString()) {
      case "full" -> Delivery.FULL;
      case "gone" -> Delivery.GONE;
      default -> new Delivery(Delivery.Status.OK, answers(res, 1));
    });
  }

  @Override
  public Future<String> release(String sid, long rid, String holder, boolean inOrder) {
    return eval(release, sid, List.of(Long.toString(rid), holder, inOrder ? "1" : "")).map(res -> switch (res.get(0).toString()) {
      case "ok", "ended" -> res.get(1).toString();
      case "none" -> null;
      case "turn" -> NOT_ITS_TURN;
      default -> throw new BoshException(TerminateCondition.ITEM_NOT_FOUND, "session gone");
    });
  }

  @Override
  public Future<String> answered(String sid, long rid, String holder) {
    return eval(answered, sid, List.of(Long.toString(rid), holder)).map(res -> res.size() == 0 ? null : res.get(0).toString());
  }

  @Override
  public Future<Boolean> abandon(String sid, long rid, String holder) {
    return eval(abandon, sid, List.of(Long.toString(rid), holder)).map(res -> res.toInteger() == 1);
  }

  @Override
  public Future<Terminated> terminate(String sid, String terminateOpen, String children) {
    return terminate(sid, terminateOpen, children, "", "");
  }

  @Override
  public Future<Terminated> refuse(String sid, String terminateOpen, boolean encrypted) {
    return terminate(sid, terminateOpen, "", "", encrypted ? "" : "U");
  }

  @Override
  public Future<Terminated> endStream(String sid, String stream, String terminateOpen, String children) {
    return terminate(sid, terminateOpen, children, stream == null ? "F" : "S" + stream, "");
  }

  private Future<Terminated> terminate(String sid, String terminateOpen, String children, String scope, String plain) {
    return eval(terminate, sid, List.of(terminateOpen, children, scope, plain)).map(res -> {
      if (res.get(1).toInteger() == 2) {
        return Terminated.DROPPED;
      }
      Response tombstone = res.get(0);
      return new Terminated(answers(res, 3), tombstone == null ? null : tombstone.toString(), res.get(1).toInteger() == 1,
          "1".equals(res.get(2).toString()));
    });
  }

  @Override
  public Future<List<Queued>> leftovers(String sid) {
    return eval(leftovers, sid, List.of()).map(res -> {
      List<Queued> out = new ArrayList<>(res.size());
      for (Response item : res) {
        String raw = item.toString();
        if (!raw.isEmpty() && raw.charAt(0) == '\u0003') {
          // a response the client never acknowledged: the stanzas it carried
          int end = raw.indexOf('\u0003', 1);
          out.addAll(ResponseStanzas.of(end == 1 ? null : raw.substring(1, end), raw.substring(end + 1)));
          continue;
        }
        Queued q = queued(raw);
        if (q != null) {
          out.add(q);
        }
      }
      return out;
    });
  }

  /** An outbound list item (see prelude.lua) as a stanza; null for a stream's end. */
  static Queued queued(String item) {
    if (item.isEmpty() || item.charAt(0) == '\u0002') {
      return null;
    }
    if (item.charAt(0) == '\u0001') {
      int end = item.indexOf('\u0001', 1);
      return new Queued(item.substring(1, end), item.substring(end + 1));
    }
    return new Queued(null, item);
  }

  /** Sids read per round trip by {@link #states}: one pipelined batch of HMGETs each, chunks one after another. */
  static final int STATES_CHUNK = 500;

  @Override
  public Future<States> states(Collection<String> sids) {
    List<String> order = new ArrayList<>(sids);
    Set<String> live = new HashSet<>();
    Set<String> ended = new HashSet<>();
    return statesFrom(order, 0, live, ended).map(v -> new States(live, ended));
  }

  /**
   * One chunk as one batch: it leases one connection (per Redis Cluster node) instead of one per
   * sid, so a pod owning 10,000 sessions does not overflow the pool's wait queue.
   */
  private Future<Void> statesFrom(List<String> order, int from, Set<String> live, Set<String> ended) {
    if (from >= order.size()) {
      return Future.succeededFuture();
    }
    List<String> chunk = order.subList(from, Math.min(order.size(), from + STATES_CHUNK));
    List<Request> reads = new ArrayList<>(chunk.size());
    for (String sid : chunk) {
      reads.add(Request.cmd(Command.HMGET).arg(sessionKey(sid)).arg("hi").arg("term"));
    }
    return redis.batch(reads).compose(replies -> {
      for (int i = 0; i < chunk.size(); i++) {
        Response fields = replies.get(i);
        if (fields.get(0) != null) {
          live.add(chunk.get(i));
        } else if (fields.get(1) != null) {
          ended.add(chunk.get(i));
        }
      }
      return statesFrom(order, from + STATES_CHUNK, live, ended);
    });
  }

  /** Sids read per round trip by {@link #lifetimes}: an HMGET and a PTTL each, pipelined. */
  static final int LIFETIMES_CHUNK = 250;

  @Override
  public Future<Lifetimes> lifetimes(Collection<String> sids) {
    List<String> order = new ArrayList<>(sids);
    Map<String, Long> live = new java.util.HashMap<>();
    Set<String> ended = new HashSet<>();
    return lifetimesFrom(order, 0, live, ended).map(v -> new Lifetimes(live, ended));
  }

  private Future<Void> lifetimesFrom(List<String> order, int from, Map<String, Long> live, Set<String> ended) {
    if (from >= order.size()) {
      return Future.succeededFuture();
    }
    List<String> chunk = order.subList(from, Math.min(order.size(), from + LIFETIMES_CHUNK));
    List<Request> reads = new ArrayList<>(2 * chunk.size());
    for (String sid : chunk) {
      reads.add(Request.cmd(Command.HMGET).arg(sessionKey(sid)).arg("hi").arg("term"));
      reads.add(Request.cmd(Command.PTTL).arg(sessionKey(sid)));
    }
    return redis.batch(reads).compose(replies -> {
      for (int i = 0; i < chunk.size(); i++) {
        Response fields = replies.get(2 * i);
        if (fields.get(0) != null) {
          long ttl = replies.get(2 * i + 1).toLong();
          // -1 (no expiry) cannot happen to a session's hash; read it as "look again soon"
          live.put(chunk.get(i), Math.max(0, ttl));
        } else if (fields.get(1) != null) {
          ended.add(chunk.get(i));
        }
      }
      return lifetimesFrom(order, from + LIFETIMES_CHUNK, live, ended);
    });
  }

  @Override
  public Future<Void> deleteWarmup(Collection<String> sids) {
    try {
      SessionStore.requireWarmup(sids);
    } catch (IllegalArgumentException e) {
      return Future.failedFuture(e);
    }
    // one DEL per session: its three keys share a hash tag, so one slot of a Redis Cluster
    List<Future<Response>> deleted = new ArrayList<>();
    for (String sid : sids) {
      deleted.add(redis.send(Request.cmd(Command.DEL).arg(sessionKey(sid)).arg(outKey(sid)).arg(inKey(sid))));
    }
    return Future.all(deleted).mapEmpty();
  }

  /** As many PINGs at once: the pool opens a connection for each one that finds every open one busy. */
  @Override
  public Future<Void> openConnections(int connections) {
    List<Future<Response>> pings = new ArrayList<>();
    for (int i = 0; i < connections; i++) {
      pings.add(redis.send(Request.cmd(Command.PING)));
    }
    return Future.join(pings).mapEmpty();
  }

  @Override
  public Future<Void> close() {
    for (var loop : List.copyOf(loopConnections.keySet())) {
      LoopConnection c = loopConnections.remove(loop);
      if (c != null) {
        c.connection().onSuccess(RedisConnection::close);
      }
    }
    Future<Void> loops = loopClient == null ? Future.succeededFuture() : loopClient.close();
    return loops.eventually(() -> ownsClient ? redis.close() : Future.succeededFuture());
  }

  /**
   * One command to Redis. From an event loop (where nearly every call starts) it goes over that
   * loop's own connection, kept for as long as it lives: commands of one loop are pipelined on it,
   * Redis reads several of them per read and answers them in one write, and no call pays the pool's
   * lease and return. Replies come back in order on the loop that sent them. A connection that
   * closes or fails (Redis restarting, a failover) is let go, and the loop's next call opens a new
   * one; what was in flight on it fails as it would have on a pooled one. Anything sent from
   * another thread, and a call that finds {@link #MAX_LOOP_IN_FLIGHT} calls of its loop in flight,
   * leases a pooled connection for the one call.
   */
  private Future<Response> send(Request request) {
    io.vertx.core.Context current = loopClient != null ? io.vertx.core.Vertx.currentContext() : null;
    if (!(current instanceof io.vertx.core.internal.ContextInternal ctx) || !ctx.isEventLoopContext()) {
      return redis.send(request);
    }
    io.netty.channel.EventLoop loop = ctx.nettyEventLoop();
    LoopConnection own = loopConnections.get(loop);
    if (own == null && loopConnections.size() >= maxLoopConnections) {
      return redis.send(request);
    }
    if (own == null) {
      own = connectFor(loop);
    }
    if (own.inFlight().incrementAndGet() > MAX_LOOP_IN_FLIGHT) {
      own.inFlight().decrementAndGet();
      return redis.send(request);
    }
    LoopConnection used = own;
    return own.connection().compose(c -> c.send(request)).onComplete(ar -> {
      used.inFlight().decrementAndGet();
      if (ar.failed() && !(ar.cause() instanceof io.vertx.redis.client.impl.types.ErrorType)) {
        // not an answer of Redis: the connection may be broken, the loop's next call opens another
        letGo(loop, used);
      }
    });
  }

  private LoopConnection connectFor(io.netty.channel.EventLoop loop) {
    io.vertx.core.Promise<RedisConnection> promise = io.vertx.core.Promise.promise();
    LoopConnection own = new LoopConnection(promise.future());
    LoopConnection raced = loopConnections.putIfAbsent(loop, own);
    if (raced != null) {
      return raced;
    }
    loopClient.connect().onComplete(ar -> {
      if (ar.failed()) {
        loopConnections.remove(loop, own);
        promise.fail(ar.cause());
        return;
      }
      RedisConnection c = ar.result();
      if (!shortReadPasses(c) && !warnedReadPasses) {
        warnedReadPasses = true;
        log.warn("The Redis client's connections hide their channel: the event loops' own connections keep Netty's"
            + " read passes of up to 16 reads, so a burst's replies may hold back the scripts they send");
      }
      c.endHandler(v -> letGo(loop, own));
      c.exceptionHandler(e -> letGo(loop, own));
      promise.complete(c);
    });
    return own;
  }

  private static volatile boolean warnedReadPasses;

  /**
   * Makes each read pass of a loop's connection one read (of at most 64 KB, Netty's adaptive
   * buffer). Netty reads a channel up to 16 times in a pass while its buffer comes back full, and
   * Vert.x holds what is written to the connection meanwhile until the pass ends: on the loop's
   * pipelined connection a burst's replies were handled inline in passes of hundreds (their HTTP
   * answers, c2s writes and next scripts), every script they sent waiting for the whole pass, and
   * the loop's other sockets for it too, so the next pass found a larger backlog. With one read per
   * pass the scripts of a read's replies go out together (still one write for many) and the loop
   * serves its other sockets before it reads on. The allocator is the channel's own (Netty reads
   * the bound at the start of every pass); false when the connection's channel cannot be reached.
   */
  static boolean shortReadPasses(RedisConnection c) {
    io.netty.channel.Channel ch = channelOf(c);
    if (ch == null || !(ch.config().getRecvByteBufAllocator() instanceof io.netty.channel.MaxMessagesRecvByteBufAllocator reads)) {
      return false;
    }
    reads.maxMessagesPerRead(1);
    return true;
  }

  /**
   * The Netty channel under a connection of the Redis client (its socket is not part of the
   * client's API: read from the standalone connection's field), or null when it cannot be reached.
   */
  static io.netty.channel.Channel channelOf(RedisConnection c) {
    try {
      Object actual = c;
      if (actual instanceof io.vertx.redis.client.impl.RedisSentinelConnection) {
        // Sentinel with failover: the master's connection of now (one opened after a failover keeps Netty's passes)
        java.lang.reflect.Field current = actual.getClass().getDeclaredField("connection");
        current.setAccessible(true);
        actual = ((java.util.concurrent.atomic.AtomicReference<?>) current.get(actual)).get();
      }
      if (actual instanceof io.vertx.redis.client.impl.PooledRedisConnection p) {
        actual = p.actual();
      }
      java.lang.reflect.Field f = actual.getClass().getDeclaredField("netSocket");
      f.setAccessible(true);
      return f.get(actual) instanceof io.vertx.core.internal.net.NetSocketInternal socket ? socket.channelHandlerContext().channel() : null;
    } catch (ReflectiveOperationException | RuntimeException e) {
      return null;
    }
  }

  /** The loop's connection is done with: the next call opens a new one, the lease goes back. */
  private void letGo(io.netty.channel.EventLoop loop, LoopConnection own) {
    if (loopConnections.remove(loop, own)) {
      own.connection().onSuccess(RedisConnection::close);
    }
  }

  private Future<Response> eval(LuaScript script, String sid, List<String> args) {
    Timer.Sample sample = Timer.start(meters);
    inFlight.incrementAndGet();
    return run(script, sid, args)
        .onComplete(ar -> {
          inFlight.decrementAndGet();
          if (ar.failed() && ar.cause() instanceof io.vertx.core.http.ConnectionPoolTooBusyException) {
            poolBusy.increment();
          }
          sample.stop(timers.get(script.name())[ar.succeeded() ? 0 : 1]);
        });
  }

  private Future<Response> run(LuaScript script, String sid, List<String> args) {
    if (mode != Mode.FUNCTIONS) {
      return runScript(script, sid, args);
    }
    return fcall(script, sid, args)
        .recover(err -> {
          if (!isMissingFunction(err)) {
            return Future.failedFuture(err);
          }
          // a Redis restarted without persistence, a FUNCTION FLUSH, a node that never had it
          return loadLibrary().compose(v -> fcall(script, sid, args)).recover(again -> isMissingFunction(again)
              // loaded on every master and still not on this call's node (a node just added): a script this once
              ? runScript(script, sid, args) : Future.failedFuture(again));
        })
        .recover(err -> {
          if (!functionsRefused(err)) {
            return Future.failedFuture(err);
          }
          if (mode == Mode.FUNCTIONS) {
            mode = Mode.SCRIPTS;
            log.warn("Redis refuses functions ({}): the session scripts run as scripts (EVALSHA), each call running their"
                + " prelude too", err.getMessage());
          }
          return runScript(script, sid, args);
        });
  }

  private Future<Response> fcall(LuaScript script, String sid, List<String> args) {
    return send(callRequest(Command.FCALL, library.function(script.name()), sid, args));
  }

  /**
   * Loads the library where this store's calls go: on every master of a Redis Cluster (a call's
   * slot may be on any), else on the one server (Sentinel: the master; replicas get functions by
   * replication, so a promoted one has them). One load at a time; calls that find the library
   * missing meanwhile wait for the same load.
   */
  private Future<Void> loadLibrary() {
    synchronized (loadingLock) {
      if (loading != null) {
        return loading;
      }
      Request load = library.loadRequest();
      // (not a cluster: over the calls' own path, so an event loop's load takes no pooled connection)
      Future<Void> sent = redis instanceof io.xbosh.cluster.SlotRoutingRedis cluster ? cluster.onEveryMaster(load).mapEmpty()
          : send(load).mapEmpty();
      Future<Void> done = sent.onComplete(ar -> {
        synchronized (loadingLock) {
          loading = null;
        }
        if (ar.succeeded()) {
          log.info("Loaded the session functions (library {})", library.name());
        }
      });
      // the load may have completed already (its reply in this call); then it is not under way
      if (!done.isComplete()) {
        loading = done;
      }
      return done;
    }
  }

  static boolean isMissingFunction(Throwable err) {
    String msg = err.getMessage();
    return msg != null && msg.startsWith("ERR Function not found");
  }

  /**
   * Redis without functions (before 7.0: FCALL is an unknown command) or an ACL that lets this user
   * call no functions or load none. Only FCALL's and FUNCTION's own refusals count: a command a
   * function calls and the ACL refuses names that command.
   */
  static boolean functionsRefused(Throwable err) {
    String msg = err.getMessage();
    if (msg == null) {
      return false;
    }
    String m = msg.toLowerCase(java.util.Locale.ROOT);
    boolean names = m.contains("'fcall'") || m.contains("`fcall`") || m.contains("'function|load'") || m.contains("'function'")
        || m.contains("`function`");
    return names && (m.startsWith("err unknown command") || m.startsWith("noperm"));
  }

  private Future<Response> runScript(LuaScript script, String sid, List<String> args) {
    return evalWith(mode != Mode.PLAIN_SCRIPTS ? script : script.plain(), sid, args)
        .recover(err -> {
          if (mode != Mode.PLAIN_SCRIPTS && isCompileError(err)) {
            // Redis 6 knows no script flags and cannot compile the shebang: from now on, plain scripts
            mode = Mode.PLAIN_SCRIPTS;
            log.warn("Redis does not accept script flags (before 7.0): scripts run without them, so a script refused"
                + " for memory may have applied its earlier writes");
            return evalWith(script.plain(), sid, args);
          }
          return Future.failedFuture(err);
        });
  }

  /** Script calls sent to Redis and not yet answered. */
  public int inFlight() {
    return inFlight.get();
  }

  private Future<Response> evalWith(LuaScript script, String sid, List<String> args) {
    return send(callRequest(Command.EVALSHA, script.sha(), sid, args))
        .recover(err -> {
          String msg = err.getMessage();
          if (msg != null && msg.startsWith("NOSCRIPT")) {
            // EVAL also caches the script, so the next EVALSHA finds it
            return send(callRequest(Command.EVAL, script.source(), sid, args));
          }
          return Future.failedFuture(err);
        });
  }

  private static boolean isCompileError(Throwable err) {
    String msg = err.getMessage();
    return msg != null && msg.contains("Error compiling script") && msg.contains("'#'");
  }

  /** FCALL, EVALSHA or EVAL of a session script: its keys, the calling pod, its arguments. */
  private Request callRequest(Command cmd, String script, String sid, List<String> args) {
    Request req = Request.cmd(cmd).arg(script).arg(3).arg(sessionKey(sid)).arg(outKey(sid)).arg(inKey(sid)).arg(podId);
    for (String a : args) {
      req.arg(a);
    }
    return req;
  }
}
