package io.xbosh.cluster;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import io.vertx.redis.client.ResponseType;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link PodBus} over Redis.
 *
 * <ul>
 *   <li>Channel {@code xb:pod:<id>}, on one dedicated connection that re-subscribes with capped
 *       backoff on the next node when it drops (and then reports {@link Listener#resubscribed}).
 *   <li>Liveness, all in one Redis Cluster slot ({@code {pods}}) so that each step is one script:
 *       the sorted set {@code xb:{pods}} (member = pod id, score = when its heartbeat runs out, on
 *       Redis' clock), the hash {@code xb:{pods}:inc} (pod id → the incarnation running under it:
 *       every start of a process is a new one), the set {@code xb:{pods}:owned:<id>} (sids whose
 *       upstream link the pod holds) and, for a while after a reap, {@code xb:{pods}:reaped:<id>}
 *       (the incarnation that was declared dead).
 *   <li>Judging: a pod judges the others only while its own heartbeats have reached Redis without
 *       a gap (on Redis' clock) for longer than the dead time plus a grace: a pod that could not
 *       beat itself (Redis down, paused, restarted, failing over; this pod frozen) cannot tell who
 *       was alive meanwhile. A pod found dead is reaped by one script that removes its records and
 *       returns its sids, so exactly one survivor ends each session.
 *   <li>A pod that finds its own incarnation reaped (it was frozen, or cut off from Redis, for
 *       longer than the dead time) closes every link at once and joins again as a new incarnation.
 *   <li>Fence ({@link #fence}): a {@code PING <token>} on the subscribed connection, whose reply
 *       Redis writes behind every message it published to the channel before. Not the pod channel
 *       on a Redis Cluster, where a message published on another node reaches this one over the
 *       cluster bus, in no order with the reply: there answers for requests held here go on
 *       sharded channels, one per slot, subscribed on the slot's master, and those fence
 *       ({@link ShardChannels}).
 * </ul>
 *
 * <p>No pod's wall clock is read: scores and gaps are Redis' {@code TIME}; the local monotonic
 * clock only times how long Redis has been unreachable (readiness).
 */
public final class RedisPodBus implements PodBus {

  private static final Logger log = LoggerFactory.getLogger(RedisPodBus.class);
  static final String PODS = "xb:{pods}";
  static final String INCARNATIONS = "xb:{pods}:inc";
  private static final long MAX_BACKOFF_MS = 5000;
  /** At start, nodes tried in turn for the channel (each call of the subscriber factory may give another). */
  private static final int SUBSCRIBE_TRIES = 6;
  private static final int RECORD_CHUNK = 500;
  /** A fence whose reply takes longer fails (its requests ask the store instead). */
  static final long FENCE_TIMEOUT_MS = 1000;

  /**
   * Renews this pod's heartbeat and lists the pods whose heartbeat ran out. Replies
   * {@code {status, now, expired ids, live pods (this one included)}}: status {@code ok}; {@code reaped} (this
   * incarnation was declared dead: nothing written); {@code replaced} (another incarnation runs
   * under this id: nothing written); {@code unknown} (the records were lost: written again).
   */
  static final String BEAT = """
      local t = redis.call('TIME')
      local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
      local id, inc, dead, keep = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
      local status = 'ok'
      local cur = redis.call('HGET', KEYS[2], id)
      if cur ~= inc then
        if cur then return {'replaced', now} end
        if redis.call('GET', KEYS[4]) == inc then return {'reaped', now} end
        status = 'unknown'
        redis.call('HSET', KEYS[2], id, inc)
      end
      redis.call('ZADD', KEYS[1], now + dead, id)
      redis.call('PEXPIRE', KEYS[1], keep)
      redis.call('PEXPIRE', KEYS[2], keep)
      redis.call('PEXPIRE', KEYS[3], keep)
      return {status, now, redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now), redis.call('ZCOUNT', KEYS[1], now, '+inf')}
      """;

  /** A new incarnation joins: takes what its id still owned (a previous run's sessions). Replies {@code {now, sids}}. */
  static final String JOIN = """
      local t = redis.call('TIME')
      local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
      local id, inc, dead, keep = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
      local sids = redis.call('SMEMBERS', KEYS[3])
      redis.call('DEL', KEYS[3], KEYS[4])
      redis.call('HSET', KEYS[2], id, inc)
      redis.call('ZADD', KEYS[1], now + dead, id)
      redis.call('PEXPIRE', KEYS[1], keep)
      redis.call('PEXPIRE', KEYS[2], keep)
      return {now, sids}
      """;

  /**
   * Added to the dead time in the scores of a pod that is still starting (until {@link #serving}):
   * deploying the HTTP listeners can keep an event loop busy for seconds on a loaded machine.
   */
  static final long START_ALLOWANCE_MS = 5000;

  /**
   * Declares a pod dead if its heartbeat had run out at the reaper's last beat (ARGV[3]) and that
   * beat was a moment ago on Redis' clock (no pause or outage since, ARGV[4]): removes its records,
   * leaves the reaped marker, and replies {@code {incarnation, sids}}; nil when the pod beat
   * meanwhile, another pod reaped it first, or Redis stalled since the reaper's beat.
   */
  static final String REAP = """
      local t = redis.call('TIME')
      local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
      local id, keep, beat, gap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
      if now < beat or now - beat > gap then return false end
      local score = redis.call('ZSCORE', KEYS[1], id)
      if not score or tonumber(score) >= beat then return false end
      local inc = redis.call('HGET', KEYS[2], id) or ''
      redis.call('ZREM', KEYS[1], id)
      redis.call('HDEL', KEYS[2], id)
      redis.call('SET', KEYS[4], inc, 'PX', keep)
      local sids = redis.call('SMEMBERS', KEYS[3])
      redis.call('DEL', KEYS[3])
      return {inc, sids}
      """;

  /** A pod leaving on purpose: its records go, unless another incarnation took its id. */
  static final String LEAVE = """
      if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
        redis.call('ZREM', KEYS[1], ARGV[1])
        redis.call('HDEL', KEYS[2], ARGV[1])
      end
      return 1
      """;

  private static final SecureRandom RANDOM = new SecureRandom();

  private final Vertx vertx;
  private final Context context;
  private final Redis commands;
  private final Supplier<Redis> subscribers;
  /** The local monotonic clock: only for how long Redis has not answered (readiness). */
  private final LongSupplier nanos;
  private final String podId;
  private final String channel;
  private final long heartbeatMs;
  private final long deadAfterMs;
  private final long maxGapMs;
  private final long graceMs;
  private final long keepMs;
  private final Set<String> dead = ConcurrentHashMap.newKeySet();
  /** whether a PING on the channel orders it ({@link #fence}): not on a Redis Cluster */
  private final boolean fencing;
  /** on a Redis Cluster, the sharded channels that carry answers and fence; null elsewhere */
  private final ShardChannels shards;
  private Redis subscriber;
  private Listener listener;
  private volatile RedisConnection connection;
  /** subscriptions made so far: each connection's number; on the bus's context */
  private long subscriptions;
  /** the connection whose SUBSCRIBE Redis has confirmed, with its number (see {@link #channel}); null while none */
  private volatile Subscription confirmed;
  /** fences waiting for their reply, by token; on the bus's context, bounded by their timeout */
  private final java.util.Map<String, PendingFence> fences = new java.util.HashMap<>();
  private long fenceSeq;
  private long heartbeatTimer = -1;
  private long backoffMs = 100;
  private volatile boolean stopped;
  private volatile String incarnation;
  private boolean beatInFlight;
  private boolean pingInFlight;
  private long pingSentNanos;
  private boolean reportedUnready;
  /** Redis time from which this pod's beats have reached Redis without a gap; -1 while they do not. */
  private long continuousSince = -1;
  /** Redis time of this pod's last beat that it knows reached Redis (or of its joining); -1 after a failure. */
  private long lastBeat = -1;
  private boolean judging;
  /** Local monotonic time of the last reply from Redis (beat or channel ping). */
  private volatile long lastReplyNanos;
  private volatile long channelDownNanos;
  private long beatFailingSinceNanos = -1;
  /** Not ready while it rejoins after being declared dead, or for good when another process took its id. */
  private volatile boolean evicting;
  private volatile boolean replaced;
  /** how often the owned set is checked against the links this pod holds */
  private static final long RECONCILE_MS = 10_000;
  private long lastReconcileNanos = System.nanoTime();
  private volatile long allowanceMs = START_ALLOWANCE_MS;
  /** Other pods whose heartbeat had not run out at this pod's last beat; -1 before the first. */
  private volatile int otherLive = -1;

  /**
   * @param commands       the pooled client for ordinary commands
   * @param subscribers    makes the client of the subscribed connection, called again for every
   *                       re-subscription (so it may pick another Cluster node, or Sentinel's new master)
   * @param heartbeatMs how often the heartbeat is renewed and the others read
   * @param deadAfterMs how long after its last heartbeat a pod is declared dead
   */
  public RedisPodBus(Vertx vertx, Redis commands, Supplier<Redis> subscribers, String podId, long heartbeatMs,
      long deadAfterMs) {
    this(vertx, commands, subscribers, podId, heartbeatMs, deadAfterMs, true);
  }

  /** @param fencing whether a PING on the channel orders it: false on a Redis Cluster */
  public RedisPodBus(Vertx vertx, Redis commands, Supplier<Redis> subscribers, String podId, long heartbeatMs,
      long deadAfterMs, boolean fencing) {
    this(vertx, commands, subscribers, podId, heartbeatMs, deadAfterMs, fencing, null);
  }

  /**
   * @param shards on a Redis Cluster, the slot map and clients of its nodes, for the sharded
   *               channels that fence there ({@link ShardChannels}); null for none
   */
  RedisPodBus(Vertx vertx, Redis commands, Supplier<Redis> subscribers, String podId, long heartbeatMs,
      long deadAfterMs, boolean fencing, ShardChannels.Topology shards) {
    this.fencing = fencing;
    this.vertx = vertx;
    this.context = vertx.getOrCreateContext();
    this.commands = commands;
    this.subscribers = subscribers;
    this.nanos = System::nanoTime;
    this.podId = podId;
    this.channel = channelOf(podId);
    this.heartbeatMs = heartbeatMs;
    this.deadAfterMs = deadAfterMs;
    this.maxGapMs = gapAllowed(heartbeatMs);
    this.graceMs = 2 * heartbeatMs;
    this.keepMs = keepFor(deadAfterMs);
    this.shards = shards == null ? null : new ShardChannels(vertx, context, shards, podId, FENCE_TIMEOUT_MS,
        (holder, body) -> {
          if (!replaced && listener != null) {
            listener.answer(holder, body);
          }
        },
        lost -> {
          if (listener != null) {
            listener.answersMaybeLost(lost);
          }
        });
  }

  /**
   * A bus on a Redis Cluster whose commands go through {@code cluster}: the pod channel takes the
   * notices, and answers for requests held here go on sharded channels that fence
   * ({@link ShardChannels}).
   */
  public static RedisPodBus onCluster(Vertx vertx, SlotRoutingRedis cluster, Supplier<Redis> subscribers,
      java.util.function.Function<String, Redis> subscriberAt, String podId, long heartbeatMs, long deadAfterMs) {
    return new RedisPodBus(vertx, cluster, subscribers, podId, heartbeatMs, deadAfterMs, false, new ShardChannels.Topology() {
      @Override
      public String masterOf(int slot) {
        return cluster.masterOf(slot);
      }

      @Override
      public Redis subscriberAt(String endpoint) {
        return subscriberAt.apply(endpoint);
      }

      @Override
      public void stale() {
        cluster.stale();
      }
    });
  }

  /** The longest gap between two of its own beats (on Redis' clock) after which a pod stops judging. */
  static long gapAllowed(long heartbeatMs) {
    return 2 * heartbeatMs;
  }

  /** How long per-pod records outlive their pod's last heartbeat when no other pod reaps it. */
  static long keepFor(long deadAfterMs) {
    return Math.max(60_000, 20 * deadAfterMs);
  }

  /** The channel a pod listens on; the store's scripts publish to the same names. */
  public static String channelOf(String podId) {
    return "xb:pod:" + podId;
  }

  static String ownedKey(String podId) {
    return "xb:{pods}:owned:" + podId;
  }

  static String reapedKey(String podId) {
    return "xb:{pods}:reaped:" + podId;
  }

  @Override
  public Future<Void> start(Listener listener) {
    this.listener = listener;
    Promise<Void> started = Promise.promise();
    context.runOnContext(v -> join()
        .compose(x -> subscribeToAny(SUBSCRIBE_TRIES))
        .onSuccess(x -> heartbeatTimer = vertx.setPeriodic(heartbeatMs, t -> tick()))
        .onComplete(started));
    return started.future();
  }

  /** Registers a new incarnation and ends what the id still owned (a previous run's sessions, or this run's after a reap). */
  private Future<Void> join() {
    String inc = Long.toHexString(RANDOM.nextLong() & Long.MAX_VALUE);
    return script(JOIN, podId, List.of(podId, inc, Long.toString(deadAfterMs + allowanceMs), Long.toString(keepMs))).map(r -> {
      incarnation = inc;
      lastReplyNanos = nanos.getAsLong();
      continuousSince = r.get(0).toLong();
      lastBeat = continuousSince;
      judging = false;
      Set<String> sids = strings(r.get(1));
      log.info("pod {} joined as incarnation {}", podId, inc);
      if (!sids.isEmpty()) {
        log.warn("{} sessions were owned by a previous run of pod {}; ending them", sids.size(), podId);
        listener.orphaned(sids);
      }
      return null;
    });
  }

  // ---- the subscribed connection

  private Future<Void> subscribe() {
    if (subscriber != null) {
      subscriber.close();
    }
    subscriber = subscribers.get();
    return subscriber.connect().compose(conn -> {
      long number = ++subscriptions;
      conn.handler(r -> onReply(conn, number, r));
      conn.exceptionHandler(e -> log.warn("pod channel connection error: {}", e.getMessage()));
      conn.endHandler(v -> onLost(conn));
      // completes once written: Redis confirms the subscription with a push of its own (onReply)
      return conn.send(Request.cmd(Command.SUBSCRIBE).arg(channel)).map(r -> {
        connection = conn;
        backoffMs = 100;
        return (Void) null;
      }).onFailure(e -> conn.close());
    });
  }

  /**
   * Everything the subscribed connection receives: pushed messages, the confirmation of the
   * subscription, and the replies to PINGs, whichever way the client hands them over (RESP3 pushes
   * reach the connection's handler; a push arriving while a PING waits takes that PING's place in
   * the client's queue, so a PING's reply may reach the handler and another PING's reply a PING's
   * callback; with RESP2 a message may even be given to a PING's callback). On the bus's context,
   * in the order Redis sent them.
   */
  private void onReply(RedisConnection conn, long number, Response r) {
    if (r == null) {
      return;
    }
    if (r.type() == ResponseType.MULTI || r.type() == ResponseType.PUSH) {
      String kind = r.size() > 0 && r.get(0) != null ? r.get(0).toString() : "";
      switch (kind) {
        case "message" -> onPush(r);
        case "subscribe" -> {
          // (number -1: a reply whose connection's number is not known here counts for nothing)
          if (!stopped && number > 0) {
            confirmed = new Subscription(conn, number);
          }
        }
        case "pong" -> fenceReply(conn, r.size() > 1 && r.get(1) != null ? r.get(1).toString() : "");
        default -> {
        }
      }
      return;
    }
    if (r.type() == ResponseType.BULK || r.type() == ResponseType.SIMPLE) {
      fenceReply(conn, r.toString());
    }
  }

  /** At start: the next node when one cannot be reached (a seed of a Redis Cluster may be down). */
  private Future<Void> subscribeToAny(int tries) {
    return subscribe().recover(e -> {
      if (tries <= 1) {
        return Future.failedFuture(e);
      }
      log.warn("subscribing failed: {}; trying the next node", e.getMessage());
      return subscribeToAny(tries - 1);
    });
  }

  private void onLost(RedisConnection conn) {
    failFences(conn);
    if (stopped || conn != connection) {
      return;
    }
    connection = null;
    confirmed = null;
    channelDownNanos = nanos.getAsLong();
    log.warn("pod channel lost; re-subscribing");
    retrySubscribe();
  }

  /**
   * The Redis master moved (Sentinel reported a switch): the channel is subscribed on the new one
   * now, since the old master may stay up, and its subscribers connected, for a while after the
   * switch while messages are published on the new one. As after a dropped channel, held requests
   * then ask the store for answers published in between. From any thread.
   */
  public void masterMoved() {
    context.runOnContext(v -> {
      RedisConnection c = connection;
      if (c != null) {
        onLost(c);
        c.close();
      }
    });
  }

  private void retrySubscribe() {
    long delay = backoffMs;
    backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
    vertx.setTimer(delay, t -> {
      if (stopped) {
        return;
      }
      subscribe().onSuccess(v -> {
        log.info("pod channel re-subscribed");
        listener.resubscribed();
      }).onFailure(e -> {
        log.warn("re-subscribing failed: {}", e.getMessage());
        retrySubscribe();
      });
    });
  }

  private void onPush(Response r) {
    if (replaced) {
      // another process runs under this pod id and listens on the same channel: its notices are
      // not for this one, which holds no link any more (acting on them would end its sessions)
      return;
    }
    // RESP2 delivers ["message", channel, payload] as a multi-bulk, RESP3 as a push
    if (r == null || (r.type() != ResponseType.MULTI && r.type() != ResponseType.PUSH) || r.size() < 3
        || !"message".equals(r.get(0).toString())) {
      return;
    }
    String msg = r.get(2).toString();
    int nl = msg.indexOf('\n');
    if (nl != 1) {
      log.debug("ignoring malformed pod message");
      return;
    }
    switch (msg.charAt(0)) {
      case 'a' -> {
        int nl2 = msg.indexOf('\n', 2);
        if (nl2 > 2) {
          listener.answer(msg.substring(2, nl2), msg.substring(nl2 + 1));
        }
      }
      case 'f' -> listener.payloadsWaiting(msg.substring(2));
      case 'e' -> listener.endedElsewhere(msg.substring(2));
      default -> log.debug("ignoring unknown pod message {}", msg.charAt(0));
    }
  }

  // ---- the fence

  private record Subscription(RedisConnection conn, long number) {
  }

  private record PendingFence(RedisConnection conn, long number, Promise<Long> done, long timer) {
  }

  /** The confirmed subscription, when it is the current connection's; else null. */
  private Subscription current() {
    RedisConnection c = connection;
    Subscription s = confirmed;
    return c != null && s != null && s.conn() == c ? s : null;
  }

  @Override
  public long channel() {
    Subscription s = current();
    return fencing && s != null ? s.number() : -1;
  }

  @Override
  public Listening listening(String sid) {
    if (shards == null) {
      return PodBus.super.listening(sid);
    }
    int slot = ShardChannels.slotOfSession(sid);
    long n = shards.number(slot);
    return n == 0 ? new Listening("", -1) : new Listening("~" + SlotTags.tag(slot), n);
  }

  @Override
  public Future<java.util.function.LongPredicate> fence(long[] channels) {
    if (shards == null) {
      return PodBus.super.fence(channels);
    }
    return shards.fence(channels);
  }

  /** For tests: slots whose sharded channel is subscribed. */
  int shardedSlots() {
    return shards == null ? 0 : shards.subscribedSlots();
  }

  /** For tests: whether the sharded channels were refused (a Redis before 7.0, or an ACL without them). */
  boolean shardedUnavailable() {
    return shards != null && shards.unavailable();
  }

  @Override
  public Future<Long> fence() {
    if (!fencing) {
      return Future.failedFuture("no fence on a Redis Cluster");
    }
    Promise<Long> done = Promise.promise();
    context.runOnContext(v -> {
      Subscription sub = current();
      if (stopped || sub == null) {
        done.fail("the pod channel is down");
        return;
      }
      RedisConnection c = sub.conn();
      String token = "xb-fence-" + Long.toString(++fenceSeq, 36);
      long timer = vertx.setTimer(FENCE_TIMEOUT_MS, t -> {
        PendingFence late = fences.remove(token);
        if (late != null) {
          late.done().tryFail("no reply to the channel fence within " + FENCE_TIMEOUT_MS + " ms");
        }
      });
      fences.put(token, new PendingFence(c, sub.number(), done, timer));
      // sent from the bus's context: its reply and the pushes before it are handled there, in order
      c.send(Request.cmd(Command.PING).arg(token)).onComplete(ar -> {
        if (ar.succeeded()) {
          onReply(c, sub.number(), ar.result());
        } else {
          PendingFence f = fences.remove(token);
          if (f != null) {
            vertx.cancelTimer(f.timer());
            f.done().tryFail(ar.cause());
          }
        }
      });
    });
    return done.future();
  }

  /** A PING's reply ({@code token}) came on {@code conn}: every push Redis sent before it was handled. */
  private void fenceReply(RedisConnection conn, String token) {
    PendingFence f = fences.remove(token);
    if (f == null) {
      // the channel's own PING (pingChannel), or a fence's after its timeout: either way the
      // channel's node answered. The client may have dropped that PING's promise (a push took its
      // place, see onReply), so its callback may never run: the PING counts as answered here, or
      // the pod would stop pinging until deadAfterMs passed and report itself unready meanwhile.
      if (conn == connection) {
        lastReplyNanos = nanos.getAsLong();
        pingInFlight = false;
      }
      return;
    }
    vertx.cancelTimer(f.timer());
    Subscription now = current();
    if (f.conn() == conn && now != null && now.conn() == conn && now.number() == f.number()) {
      f.done().tryComplete(f.number());
    } else {
      f.done().tryFail("the pod channel changed");
    }
  }

  private void failFences(RedisConnection conn) {
    fences.values().removeIf(f -> {
      if (f.conn() != conn) {
        return false;
      }
      vertx.cancelTimer(f.timer());
      f.done().tryFail("the pod channel dropped");
      return true;
    });
  }

  // ---- liveness

  private void tick() {
    if (stopped) {
      return;
    }
    reportReadiness();
    pingChannel();
    if (!beatInFlight && !evicting && !replaced) {
      beatInFlight = true;
      heartbeat().onComplete(ar -> beatInFlight = false);
    }
    long now = nanos.getAsLong();
    if (!evicting && !replaced && now - lastReconcileNanos >= RECONCILE_MS * 1_000_000L) {
      lastReconcileNanos = now;
      reconcileOwned();
    }
  }

  /**
   * Drops members of this pod's owned set whose link is gone. An SREM can fail while Redis is away,
   * or overtake the SADD of a link that closed at once (they may travel on different pooled
   * connections); a member left behind would stay for the pod's lifetime. A link is in the pod's
   * map before its SADD is sent, so a member without one at the time of the reply is stale.
   */
  private void reconcileOwned() {
    // no gate on a check still in flight: one that never answers (sent as Redis went away) must not stop the next
    commands.send(Request.cmd(Command.SMEMBERS).arg(ownedKey(podId))).onComplete(ar -> {
      if (ar.failed()) {
        return;
      }
      Set<String> live = listener.ownedSids();
      List<String> stale = new ArrayList<>();
      for (String sid : strings(ar.result())) {
        if (!live.contains(sid)) {
          stale.add(sid);
        }
      }
      for (int i = 0; i < stale.size(); i += RECORD_CHUNK) {
        Request srem = Request.cmd(Command.SREM).arg(ownedKey(podId));
        stale.subList(i, Math.min(stale.size(), i + RECORD_CHUNK)).forEach(srem::arg);
        commands.send(srem).onFailure(e -> log.debug("dropping stale ownership records failed: {}", e.getMessage()));
      }
    });
  }

  /** The channel's node answering counts as Redis answering (the beat's node may be failing over). */
  private void pingChannel() {
    RedisConnection c = connection;
    long now = nanos.getAsLong();
    if (c == null || (pingInFlight && now - pingSentNanos < deadAfterMs * 1_000_000L)) {
      return;
    }
    pingInFlight = true;
    pingSentNanos = now;
    c.send(Request.cmd(Command.PING)).onComplete(ar -> {
      pingInFlight = false;
      if (ar.succeeded()) {
        lastReplyNanos = nanos.getAsLong();
        // what the client gave this PING may be another's reply, or a message (see onReply)
        onReply(c, -1, ar.result());
      } else {
        log.debug("pod channel PING failed: {}", ar.cause().getMessage());
      }
    });
  }

  private Future<Void> heartbeat() {
    String inc = incarnation;
    return script(BEAT, podId, List.of(podId, inc, Long.toString(deadAfterMs + allowanceMs), Long.toString(keepMs)))
        .<Void>map(r -> {
          onBeat(r);
          return null;
        })
        .onFailure(this::beatFailed);
  }

  private void beatFailed(Throwable e) {
    long now = nanos.getAsLong();
    if (beatFailingSinceNanos < 0) {
      beatFailingSinceNanos = now;
      log.warn("heartbeat failed: {}", e.getMessage());
    } else {
      log.debug("heartbeat failed: {}", e.getMessage());
    }
    if (continuousSince >= 0) {
      log.info("not judging other pods until heartbeats reach Redis again for {} ms", deadAfterMs + graceMs);
    }
    continuousSince = -1;
    lastBeat = -1;
    judging = false;
    dead.clear();
  }

  private void onBeat(Response r) {
    if (stopped) {
      return;
    }
    String status = r.get(0).toString();
    long now = r.get(1).toLong();
    lastReplyNanos = nanos.getAsLong();
    if (beatFailingSinceNanos >= 0) {
      log.info("heartbeats reach Redis again after {} ms", (lastReplyNanos - beatFailingSinceNanos) / 1_000_000);
      beatFailingSinceNanos = -1;
    }
    switch (status) {
      case "reaped" -> {
        evicted();
        return;
      }
      case "replaced" -> {
        replaced();
        return;
      }
      case "unknown" -> {
        log.warn("the liveness records of pod {} were gone from Redis (restarted without its data?); recording them again", podId);
        recordOwned();
      }
      default -> {
      }
    }
    long prevBeat = lastBeat;
    lastBeat = now;
    if (prevBeat < 0 || now < prevBeat || now - prevBeat > maxGapMs) {
      if (continuousSince >= 0) {
        log.info("{} ms between two heartbeats on Redis' clock: not judging other pods for {} ms",
            prevBeat < 0 ? "unknown" : Long.toString(now - prevBeat), deadAfterMs + graceMs);
      }
      continuousSince = now;
      judging = false;
      dead.clear();
    } else if (continuousSince < 0) {
      continuousSince = now;
    }
    otherLive = Math.max(0, r.get(3).toInteger() - 1);
    Set<String> expired = strings(r.get(2));
    expired.remove(podId);
    dead.retainAll(expired);
    if (now - continuousSince < deadAfterMs + graceMs) {
      return;
    }
    if (!judging) {
      judging = true;
      log.info("heartbeats reached Redis without a gap for {} ms: judging other pods' liveness", now - continuousSince);
    }
    for (String pod : expired) {
      if (dead.add(pod)) {
        reap(pod);
      }
    }
  }

  /** Ends a dead pod's sessions; only the pod whose script removes its records ends them. */
  private void reap(String pod) {
    script(REAP, pod, List.of(pod, Long.toString(keepMs), Long.toString(lastBeat), Long.toString(maxGapMs)))
        .onSuccess(r -> {
          // reaped (by this pod or another) or alive after all: a new incarnation under its id is alive
          dead.remove(pod);
          if (r == null) {
            return;
          }
          Set<String> sids = strings(r.get(1));
          log.warn("pod {} (incarnation {}) stopped; ending the {} sessions it owned", pod, r.get(0), sids.size());
          if (!sids.isEmpty()) {
            listener.orphaned(sids);
          }
        })
        .onFailure(e -> {
          log.warn("claiming the sessions of pod {} failed: {}", pod, e.getMessage());
          dead.remove(pod); // try again on the next heartbeat
        });
  }

  /** Another pod declared this incarnation dead: its sessions were ended; close every link, then join again. */
  private void evicted() {
    if (evicting) {
      return;
    }
    evicting = true;
    continuousSince = -1;
    lastBeat = -1;
    judging = false;
    dead.clear();
    log.error("pod {} (incarnation {}) was declared dead by another pod (frozen or cut off from Redis for more than {} ms): "
        + "its sessions were ended; closing every link and joining again", podId, incarnation, deadAfterMs);
    listener.evicted()
        .transform(ignored -> join())
        .onComplete(ar -> {
          if (ar.failed()) {
            log.warn("joining again failed: {}; retrying", ar.cause().getMessage());
            vertx.setTimer(heartbeatMs, t -> {
              evicting = false;
              evicted();
            });
            return;
          }
          evicting = false;
          recordOwned();
        });
  }

  private void replaced() {
    if (replaced) {
      return;
    }
    replaced = true;
    log.error("another process joined under pod id {}: it ended this run's sessions; closing every link. "
        + "Give every pod its own XBOSH_NODE_ID", podId);
    listener.evicted();
  }

  /** Records every owned sid again (after the records were lost, or sessions were taken on while rejoining). */
  private void recordOwned() {
    List<String> sids = new ArrayList<>(listener.ownedSids());
    for (int i = 0; i < sids.size(); i += RECORD_CHUNK) {
      Request sadd = Request.cmd(Command.SADD).arg(ownedKey(podId));
      sids.subList(i, Math.min(sids.size(), i + RECORD_CHUNK)).forEach(sadd::arg);
      commands.send(sadd).onFailure(e -> log.warn("recording owned sessions failed: {}", e.getMessage()));
    }
    if (!sids.isEmpty()) {
      commands.send(Request.cmd(Command.PEXPIRE).arg(ownedKey(podId)).arg(keepMs));
    }
  }

  @Override
  public void serving() {
    context.runOnContext(v -> {
      allowanceMs = 0;
      tick();
    });
  }

  @Override
  public boolean healthy() {
    return unhealthy() == null;
  }

  /** Why the pod is not ready, or null. */
  private String unhealthy() {
    long now = nanos.getAsLong();
    long unreadyAfter = deadAfterMs * 1_000_000L;
    if (evicting) {
      return "joining again after being declared dead";
    }
    if (replaced) {
      return "another process runs under this pod id";
    }
    if (now - lastReplyNanos >= unreadyAfter) {
      return "Redis has not answered for " + (now - lastReplyNanos) / 1_000_000 + " ms";
    }
    if (connection == null && now - channelDownNanos >= unreadyAfter) {
      return "the pod channel has been down for " + (now - channelDownNanos) / 1_000_000 + " ms";
    }
    return null;
  }

  private void reportReadiness() {
    String why = unhealthy();
    if (why != null && !reportedUnready) {
      log.warn("not ready: {}", why);
    } else if (why == null && reportedUnready) {
      log.info("ready again");
    }
    reportedUnready = why != null;
  }

  /** One read of the pods' sorted set (a handful of members): every pod with a heartbeat record. */
  @Override
  public Future<java.util.List<String>> pods() {
    return commands.send(Request.cmd(Command.ZRANGEBYSCORE).arg(PODS).arg("-inf").arg("+inf")).map(r -> {
      java.util.List<String> ids = new java.util.ArrayList<>();
      if (r != null) {
        r.forEach(id -> ids.add(id.toString()));
      }
      return ids;
    });
  }

  @Override
  public boolean alive(String pod) {
    return pod.equals(podId) || !dead.contains(pod);
  }

  @Override
  public int otherLivePods() {
    return otherLive;
  }

  @Override
  public void owned(String sid) {
    commands.send(Request.cmd(Command.SADD).arg(ownedKey(podId)).arg(sid))
        .onFailure(e -> log.warn("sid={} recording ownership failed: {}", sid, e.getMessage()));
  }

  @Override
  public void disowned(String sid) {
    commands.send(Request.cmd(Command.SREM).arg(ownedKey(podId)).arg(sid))
        .onFailure(e -> log.debug("sid={} dropping ownership failed: {}", sid, e.getMessage()));
  }

  @Override
  public Future<Void> stop() {
    stopped = true;
    if (heartbeatTimer >= 0) {
      vertx.cancelTimer(heartbeatTimer);
    }
    RedisConnection c = connection;
    connection = null;
    Promise<Void> done = Promise.promise();
    // a stopped pod leaves the live set at once rather than after its heartbeat runs out
    String inc = incarnation;
    Future<Response> left = inc == null ? Future.succeededFuture() : script(LEAVE, podId, List.of(podId, inc));
    left.onComplete(ar -> {
      if (c != null) {
        c.close().onComplete(x -> done.complete());
      } else {
        done.complete();
      }
    });
    return done.future().compose(v -> shards != null ? shards.stop() : Future.succeededFuture())
        .compose(v -> subscriber != null ? subscriber.close() : Future.succeededFuture());
  }

  // ---- scripts

  private static final java.util.Map<String, String> SHAS = new ConcurrentHashMap<>();

  /** Runs one of the liveness scripts on the keys of {@code pod} (EVALSHA, EVAL when Redis lost it). */
  private Future<Response> script(String source, String pod, List<String> args) {
    String sha = SHAS.computeIfAbsent(source, RedisPodBus::sha1);
    return commands.send(scriptRequest(Command.EVALSHA, sha, pod, args)).recover(err -> {
      String msg = err.getMessage();
      if (msg != null && msg.startsWith("NOSCRIPT")) {
        return commands.send(scriptRequest(Command.EVAL, source, pod, args));
      }
      return Future.failedFuture(err);
    });
  }

  private static Request scriptRequest(Command cmd, String script, String pod, List<String> args) {
    Request req = Request.cmd(cmd).arg(script).arg(4).arg(PODS).arg(INCARNATIONS).arg(ownedKey(pod)).arg(reapedKey(pod));
    args.forEach(req::arg);
    return req;
  }

  private static String sha1(String s) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1").digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static Set<String> strings(Response r) {
    Set<String> out = new HashSet<>();
    if (r != null) {
      for (Response e : r) {
        out.add(e.toString());
      }
    }
    return out;
  }
}
