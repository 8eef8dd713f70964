package io.xbosh.session;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.xbosh.metrics.XboshMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
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
 * {@link SessionStore} on Redis: each operation is one {@code EVALSHA} of a Lua script (reloaded with
 * {@code EVAL} on {@code NOSCRIPT}), over the keys {@code xb:{sid}}, {@code xb:{sid}:o} and
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
  /** Whether scripts go with their Redis 7 flags; cleared for good on a Redis that cannot compile them. */
  private volatile boolean flagged = true;

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
    this(redis, ownsClient, podId, maxOut, maxOutBytes, maxResponseBytes, tombstoneSeconds, maxStreams, meters, Map.of());
  }

  /**
   * @param sourceEdits further text replacements in the scripts' source, for tests only: the
   *                    differential test reads the clock from a key instead of {@code TIME}
   */
  RedisSessionStore(Redis redis, boolean ownsClient, String podId, int maxOut, int maxOutBytes, int maxResponseBytes,
      int tombstoneSeconds, int maxStreams, MeterRegistry meters, Map<String, String> sourceEdits) {
    this.meters = meters;
    this.poolBusy = XboshMetrics.redisPoolBusy(meters);
    this.redis = redis;
    this.ownsClient = ownsClient;
    this.podId = podId;
    Map<String, String> constants = new java.util.HashMap<>(Map.of(
        "__OPEN__", LuaScript.quote(BodyWriter.OPEN),
        "__RECOVERABLE__", LuaScript.quote(BodyWriter.recoverableError()),
        "__TOMBSTONE_MS__", Long.toString(tombstoneSeconds * 1000L),
        "__MAX_OUT__", Integer.toString(maxOut),
        "__MAX_OUT_BYTES__", Integer.toString(maxOutBytes),
        "__MAX_BODY_BYTES__", Integer.toString(maxResponseBytes),
        "__KEPT_FORWARDS__", Integer.toString(KEPT_FORWARDS),
        "__UNDELIVERED_NS__", UNDELIVERED_NS,
        "__REPORT_GRACE_MS__", Long.toString(REPORT_GRACE_MS),
        "__MAX_STREAMS__", Integer.toString(maxStreams)));
    constants.put("__RESEND_MARGIN_MS__", Long.toString(RESEND_MARGIN_MS));
    constants.put("__EXPIRY_MARGIN_MS__", Long.toString(EXPIRY_MARGIN_MS));
    if (!sourceEdits.isEmpty()) {
      Map<String, String> all = new java.util.LinkedHashMap<>(constants);
      all.putAll(sourceEdits);
      constants = all;
    }
    this.create = LuaScript.load("create", constants);
    this.accept = LuaScript.load("accept", constants);
    this.deliver = LuaScript.load("deliver", constants);
    this.release = LuaScript.load("release", constants);
    this.terminate = LuaScript.load("terminate", constants);
    this.drain = LuaScript.load("drain", constants);
    this.leftovers = LuaScript.load("leftovers", constants);
    this.abandon = LuaScript.load("abandon", constants);
    this.answered = LuaScript.load("answered", constants, "no-writes");
    this.forwardsFrom = LuaScript.load("forwards", constants, "no-writes");
    for (LuaScript script : List.of(create, accept, deliver, release, abandon, answered, forwardsFrom, terminate, drain, leftovers)) {
      timers.put(script.name(), new Timer[] {timer(script, "ok"), timer(script, "error")});
    }
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
    String content = res.get(1).toString();
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
    return ownsClient ? redis.close() : Future.succeededFuture();
  }

  private Future<Response> eval(LuaScript script, String sid, List<String> args) {
    Timer.Sample sample = Timer.start(meters);
    inFlight.incrementAndGet();
    return evalWith(flagged ? script : script.plain(), sid, args)
        .recover(err -> {
          if (flagged && isCompileError(err)) {
            // Redis 6 knows no script flags and cannot compile the shebang: from now on, plain scripts
            flagged = false;
            log.warn("Redis does not accept script flags (before 7.0): scripts run without them, so a script refused"
                + " for memory may have applied its earlier writes");
            return evalWith(script.plain(), sid, args);
          }
          return Future.failedFuture(err);
        })
        .onComplete(ar -> {
          inFlight.decrementAndGet();
          if (ar.failed() && ar.cause() instanceof io.vertx.core.http.ConnectionPoolTooBusyException) {
            poolBusy.increment();
          }
          sample.stop(timers.get(script.name())[ar.succeeded() ? 0 : 1]);
        });
  }

  /** Script calls sent to Redis and not yet answered. */
  public int inFlight() {
    return inFlight.get();
  }

  private Future<Response> evalWith(LuaScript script, String sid, List<String> args) {
    return redis.send(evalRequest(Command.EVALSHA, script.sha(), sid, args))
        .recover(err -> {
          String msg = err.getMessage();
          if (msg != null && msg.startsWith("NOSCRIPT")) {
            // EVAL also caches the script, so the next EVALSHA finds it
            return redis.send(evalRequest(Command.EVAL, script.source(), sid, args));
          }
          return Future.failedFuture(err);
        });
  }

  private static boolean isCompileError(Throwable err) {
    String msg = err.getMessage();
    return msg != null && msg.contains("Error compiling script") && msg.contains("'#'");
  }

  private Request evalRequest(Command cmd, String scriptOrSha, String sid, List<String> args) {
    Request req = Request.cmd(cmd).arg(scriptOrSha).arg(3).arg(sessionKey(sid)).arg(outKey(sid)).arg(inKey(sid)).arg(podId);
    for (String a : args) {
      req.arg(a);
    }
    return req;
  }
}
