package io.xbosh.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.ProtocolVersion;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import io.xbosh.session.Accepted;
import io.xbosh.session.RedisSessionStore;
import io.xbosh.session.RequestFlags;
import io.xbosh.session.SessionRecord;
import io.xbosh.session.SessionStore;
import io.xbosh.session.SessionStore.Delivery;
import io.xbosh.protocol.SessionParams;
import io.xbosh.testing.RedisClusterProcess;
import io.xbosh.testing.RedisProcess;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongPredicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The sharded channels' fence on a real Redis Cluster with replicas ({@link ShardChannels}): the
 * stores of two pods, pod-a holding requests and pod-b delivering to them around their store
 * deadline. Every stanza reaches the client exactly once: in the answer pod-a got on its channel, or
 * in the store's answer (release), or in the next request when pod-a answered empty by itself after
 * its fence. A slot being migrated and a master killed are never vouched for.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ShardChannelFenceIT {

  static RedisClusterProcess cluster;
  static Vertx vertx;
  static SlotRoutingRedis redis;
  static RedisSessionStore storeA;
  static RedisSessionStore storeB;
  static RedisPodBus bus;
  static final Map<String, String> answers = new ConcurrentHashMap<>();
  static final ConcurrentLinkedQueue<LongPredicate> lost = new ConcurrentLinkedQueue<>();
  /** The store's empty answer, which a holder gives by itself (HeldRequest.EMPTY) */
  static final String EMPTY = io.xbosh.protocol.BodyWriter.response(null, List.of());

  @BeforeAll
  static void start() throws Exception {
    cluster = RedisClusterProcess.startWithReplicas();
    vertx = Vertx.vertx();
    RedisOptions options = new RedisOptions().setMaxPoolSize(8).setMaxPoolWaiting(4096).setMaxWaitingHandlers(8192);
    for (String url : cluster.urls().split(",")) {
      options.addConnectionString(url);
    }
    redis = new SlotRoutingRedis(vertx, options);
    storeA = new RedisSessionStore(redis, false, "pod-a", 50, 60);
    storeB = new RedisSessionStore(redis, false, "pod-b", 50, 60);
    // the pod channel on a node still running (a test kills a master)
    bus = RedisPodBus.onCluster(vertx, redis, () -> subscriberAt(cluster.nodes().stream().filter(RedisProcess::isAlive)
        .findFirst().orElseThrow().url()), ShardChannelFenceIT::subscriberAt,
        "pod-a", 200, 5000);
    bus.start(new PodBus.Listener() {
      @Override
      public void answer(String holder, String body) {
        answers.put(holder, body);
      }

      @Override
      public void payloadsWaiting(String sid) {
      }

      @Override
      public void resubscribed() {
      }

      @Override
      public void answersMaybeLost(LongPredicate channels) {
        lost.add(channels);
      }

      @Override
      public void orphaned(Set<String> sids) {
      }

      @Override
      public Future<Void> evicted() {
        return Future.succeededFuture();
      }

      @Override
      public Set<String> ownedSids() {
        return Set.of();
      }
    }).await(30, TimeUnit.SECONDS);
  }

  static Redis subscriberAt(String endpoint) {
    return Redis.createClient(vertx, new RedisOptions().setConnectionString(endpoint).setMaxPoolSize(1).setMaxPoolWaiting(16)
        .setMaxWaitingHandlers(1024).setPreferredProtocolVersion(ProtocolVersion.RESP3));
  }

  @AfterAll
  static void stop() throws Exception {
    if (bus != null) {
      bus.stop().await(10, TimeUnit.SECONDS);
    }
    if (redis != null) {
      redis.close().await(10, TimeUnit.SECONDS);
    }
    if (vertx != null) {
      vertx.close().await(20, TimeUnit.SECONDS);
    }
    if (cluster != null) {
      cluster.close();
    }
  }

  /** A session's hash (RedisSessionStore's naming: the sid is the hash tag) */
  static String key(String sid) {
    return "xb:{" + sid + "}";
  }

  static <T> T get(Future<T> f) throws Exception {
    return f.await(15, TimeUnit.SECONDS);
  }

  /** wait=2: the store's deadline is 1 s after the accept; hold=1. */
  static String newSession() throws Exception {
    String sid = UUID.randomUUID().toString();
    get(storeA.create(new SessionRecord(sid, new SessionParams(2, 1, 2, 60, 0, "1.11", "text/xml; charset=utf-8", false,
        "localhost", "en", null, null), "pod-a", 100)));
    return sid;
  }

  /** Where pod-a listens for the session's answers, once its sharded channel is subscribed. */
  static PodBus.Listening listening(String sid) {
    await().atMost(Duration.ofSeconds(20)).until(() -> bus.listening(sid).channel() > 0);
    PodBus.Listening l = bus.listening(sid);
    assertThat(l.holderSuffix()).isEqualTo("~" + SlotTags.tag(ShardChannels.slotOfSession(sid)));
    return l;
  }

  static boolean vouched(long channel) throws Exception {
    return get(bus.fence(new long[] {channel})).test(channel);
  }

  static final AtomicInteger holders = new AtomicInteger();
  static final Pattern STANZA = Pattern.compile("<m id='([^']+)'/>");

  /** What one client of the race saw, by how each held request ended. */
  static final AtomicInteger viaChannel = new AtomicInteger();
  static final AtomicInteger answeredLocally = new AtomicInteger();
  static final AtomicInteger released = new AtomicInteger();

  static Future<Response> spublish(Redis via, String sid, String holder) {
    String channel = ShardChannels.channel("pod-a", ShardChannels.slotOfSession(sid));
    return via.send(Request.cmd(Command.SPUBLISH).arg(channel).arg("a\n" + holder + "\n<body/>"));
  }

  @Test
  @Order(0)
  void aFenceCompletesBehindEveryAnswerPublishedBeforeIt() throws Exception {
    String sid = newSession();
    long channel = listening(sid).channel();
    int before = answers.size();
    for (int round = 1; round <= 20; round++) {
      for (int i = 0; i < 25; i++) {
        spublish(redis, sid, "pod-a#b" + (round * 100 + i)).await(10, TimeUnit.SECONDS);
      }
      int expected = before + round * 25;
      // what the listener had been given when the fence completed, on the fence's own callback
      Object[] seen = get(bus.fence(new long[] {channel}).map(p -> new Object[] {p.test(channel), answers.size()}));
      assertThat(seen[0]).isEqualTo(true);
      assertThat(seen[1]).isEqualTo(expected);
    }
  }

  @Test
  @Order(0)
  void fencesComeBackBehindTheirMessagesWhileMessagesKeepArriving() throws Exception {
    String sid = newSession();
    long channel = listening(sid).channel();
    RedisProcess master = cluster.masterOf(key(sid));
    Redis direct = Redis.createClient(vertx, new RedisOptions().setConnectionString(master.url()).setMaxWaitingHandlers(8192));
    // one connection, pipelined: the messages reach the subscriber back to back, fences among them
    io.vertx.redis.client.RedisConnection publisher = direct.connect().await(10, TimeUnit.SECONDS);
    String channelName = ShardChannels.channel("pod-a", ShardChannels.slotOfSession(sid));
    List<Future<?>> flood = new ArrayList<>();
    ConcurrentLinkedQueue<Future<long[]>> fences = new ConcurrentLinkedQueue<>();
    for (int i = 0; i < 4000; i++) {
      long published = i + 1;
      Future<Response> sent = publisher.send(Request.cmd(Command.SPUBLISH).arg(channelName).arg("a\npod-a#fl" + i + "\n<body/>"));
      if (i % 100 == 0) {
        // once message i is published, a fence sent after it comes back behind it
        sent.onSuccess(r -> fences.add(bus.fence(new long[] {channel})
            .map(p -> new long[] {published, p.test(channel) ? floodSeen() : -1})));
      }
      flood.add(sent);
    }
    Future.all(flood).await(30, TimeUnit.SECONDS);
    publisher.close();
    direct.close();
    assertThat(fences).hasSize(40);
    for (Future<long[]> f : fences) {
      long[] r = f.await(10, TimeUnit.SECONDS);
      // a push taking a waiting command's place in the client must not lose the fence's reply
      assertThat(r[1]).as("answers handled when the fence after message %d came back", r[0]).isGreaterThanOrEqualTo(r[0]);
    }
    await().atMost(Duration.ofSeconds(10)).until(() -> floodSeen() == 4000);
  }

  private static long floodSeen() {
    return answers.keySet().stream().filter(h -> h.startsWith("pod-a#fl")).count();
  }

  @Test
  @Order(1)
  void deliveriesRacingTheDeadlineReachTheClientExactlyOnce() throws Exception {
    int sessions = 24;
    int rounds = 4;
    List<String> sids = new ArrayList<>();
    for (int i = 0; i < sessions; i++) {
      sids.add(newSession());
    }
    Map<String, List<String>> seen = new ConcurrentHashMap<>();
    List<java.util.concurrent.CompletableFuture<Void>> clients = new ArrayList<>();
    for (String sid : sids) {
      clients.add(java.util.concurrent.CompletableFuture.runAsync(() -> {
        try {
          race(sid, rounds, seen.computeIfAbsent(sid, k -> new ArrayList<>()));
        } catch (Exception e) {
          throw new IllegalStateException(sid + ": " + e, e);
        }
      }));
    }
    for (var c : clients) {
      c.get(180, TimeUnit.SECONDS);
    }
    for (String sid : sids) {
      List<String> expected = new ArrayList<>();
      for (int r = 0; r < rounds; r++) {
        expected.add(sid + "-" + r);
      }
      assertThat(seen.get(sid)).as("stanzas of %s", sid).containsExactlyElementsOf(expected);
    }
    System.out.printf("race: %d answers on the sharded channel, %d empty answers after the fence, %d releases%n",
        viaChannel.get(), answeredLocally.get(), released.get());
    // both outcomes of the race happened: the test saw deliveries before and after deadlines
    assertThat(viaChannel.get()).isPositive();
    assertThat(answeredLocally.get()).isPositive();
  }

  /** One client: each round a held request, a delivery by pod-b around its deadline, and what the client gets. */
  private void race(String sid, int rounds, List<String> seen) throws Exception {
    PodBus.Listening where = listening(sid);
    long rid = 101;
    RedisProcess master = cluster.masterOf(key(sid));
    for (int round = 0; round < rounds; round++) {
      String holder = "pod-a#" + Integer.toHexString(holders.incrementAndGet()) + where.holderSuffix();
      Accepted a = get(storeA.accept(sid, rid, holder, RequestFlags.NONE, ""));
      assertThat(a.outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
      assertThat(a.deadline()).isTrue();
      assertThat(a.immediate()).isNull();
      long deadline = deadlineOf(master, sid, holder);
      // pod-b delivers 0.7 to 1.3 s after the accept: before or after the deadline (1 s), at random
      String stanza = "<m id='" + sid + "-" + round + "'/>";
      Promise<Delivery> delivered = Promise.promise();
      vertx.setTimer(700 + ThreadLocalRandom.current().nextInt(600),
          t -> storeB.deliver(sid, List.of(stanza)).onComplete(delivered));
      // the holder's wait ends once Redis' clock is past the deadline: fence, then answer
      await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20)).until(() -> redisTime(master) > deadline);
      long channel = where.channel();
      // what had arrived when the fence completed (both on the bus's context)
      Object[] fenced = get(bus.fence(new long[] {channel}).map(p -> new Object[] {p.test(channel), answers.remove(holder)}));
      boolean vouched = (Boolean) fenced[0];
      String body = (String) fenced[1];
      if (body != null) {
        viaChannel.incrementAndGet();
      } else if (vouched) {
        answeredLocally.incrementAndGet();
        body = EMPTY;
      } else {
        released.incrementAndGet();
        body = get(storeA.release(sid, rid, holder));
      }
      collect(body, seen);
      get(delivered.future());
      rid++;
      if (body.equals(EMPTY) || !body.contains(stanza)) {
        // the stanza waits in the store: the client's next request takes it at once
        long now = rid;
        Accepted next = get(storeA.accept(sid, rid, "pod-a#" + Integer.toHexString(holders.incrementAndGet()), RequestFlags.NONE, ""));
        String got = next.immediate() != null ? next.immediate()
            : next.answers().stream().filter(x -> x.rid() == now).findFirst().map(x -> x.body()).orElse("");
        assertThat(got).as("the stanza the holder did not get waits for the next request").contains(stanza);
        collect(got, seen);
        rid++;
      }
    }
  }

  private static void collect(String body, List<String> seen) {
    Matcher m = STANZA.matcher(body);
    while (m.find()) {
      seen.add(m.group(1));
    }
  }

  /** The deadline the store wrote for the held request ({@code rid=holder@ms}). */
  private static long deadlineOf(RedisProcess master, String sid, String holder) throws Exception {
    Response held = get(redis.send(Request.cmd(Command.HGET).arg(key(sid)).arg("held")));
    Matcher m = Pattern.compile(Pattern.quote(holder) + "@(\\d+)").matcher(held.toString());
    assertThat(m.find()).as("held %s", held).isTrue();
    return Long.parseLong(m.group(1));
  }

  private static long redisTime(RedisProcess node) throws Exception {
    String[] t = node.cli("time").trim().split("\\s+");
    return Long.parseLong(t[0]) * 1000 + Long.parseLong(t[1]) / 1000;
  }

  @Test
  @Order(2)
  void aSlotBeingMigratedIsNotVouchedFor() throws Exception {
    String sid = newSession();
    long before = listening(sid).channel();
    assertThat(vouched(before)).isTrue();
    int slot = ShardChannels.slotOfSession(sid);
    RedisProcess master = cluster.masterOf(key(sid));
    RedisProcess other = cluster.node(cluster.masterPorts().stream().filter(p -> p != master.port()).findFirst().orElseThrow());
    String otherId = other.cli("cluster", "myid").trim();
    assertThat(master.cli("cluster", "setslot", Integer.toString(slot), "migrating", otherId).trim()).isEqualTo("OK");
    try {
      // a script on a session already moved would run on the other node, publishing there
      assertThat(vouched(before)).isFalse();
      assertThat(bus.listening(sid).channel()).isNotEqualTo(before);
      assertThat(vouched(bus.listening(sid).channel())).isFalse();
    } finally {
      master.cli("cluster", "setslot", Integer.toString(slot), "stable");
    }
    long after = bus.listening(sid).channel();
    assertThat(vouched(after)).isTrue();
    assertThat(lost).anyMatch(p -> p.test(before));
  }

  /**
   * The scripts fall back to the pod channel when no client of the node listens on the holder's
   * sharded channel: the answer is not lost, only unfenced (its holder then asks the store).
   */
  @Test
  @Order(2)
  void anAnswerWhoseShardedChannelNobodyListensOnTakesThePodChannel() throws Exception {
    String sid = newSession();
    PodBus.Listening where = listening(sid);
    RedisProcess master = cluster.masterOf(key(sid));
    String holder = "pod-a#" + Integer.toHexString(holders.incrementAndGet()) + where.holderSuffix();
    get(storeA.accept(sid, 101, holder, RequestFlags.NONE, ""));
    // the pod's connection to the session's master, the one subscribed to sharded channels, goes
    String id = null;
    for (String client : master.cli("client", "list").split("\n")) {
      if (client.matches(".* ssub=[1-9].*")) {
        id = client.replaceAll("^id=(\\d+) .*$", "$1");
      }
    }
    assertThat(id).as("the sharded subscription on %s", master.port()).isNotNull();
    assertThat(master.cli("client", "kill", "id", id).trim()).isEqualTo("1");
    get(storeB.deliver(sid, List.of("<m id='unfenced'/>")));
    await().atMost(Duration.ofSeconds(10)).until(() -> answers.containsKey(holder));
    assertThat(answers.remove(holder)).contains("unfenced");
    await().atMost(Duration.ofSeconds(10)).until(() -> lost.stream().anyMatch(p -> p.test(where.channel())));
    assertThat(vouched(where.channel())).isFalse();
    // subscribed again on the next request of the slot
    await().atMost(Duration.ofSeconds(20)).until(() -> bus.listening(sid).channel() > 0);
    assertThat(bus.listening(sid).channel()).isNotEqualTo(where.channel());
  }

  @Test
  @Order(3)
  void aMasterKilledIsNotVouchedForAndItsReplicaTakesTheChannelOver() throws Exception {
    String sid = newSession();
    long before = listening(sid).channel();
    RedisProcess master = cluster.masterOf(key(sid));
    // a request held under the old master's subscription, with an answer on its way when it dies
    String holder = "pod-a#" + Integer.toHexString(holders.incrementAndGet()) + bus.listening(sid).holderSuffix();
    get(storeA.accept(sid, 101, holder, RequestFlags.NONE, ""));
    master.kill();
    await().atMost(Duration.ofSeconds(10)).until(() -> lost.stream().anyMatch(p -> p.test(before)));
    assertThat(vouched(before)).isFalse();
    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).until(() -> cluster.ok());
    // the replica serves the slot now: the channel is subscribed there, and answers come on it again
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).until(() -> {
      long n = bus.listening(sid).channel();
      return n > 0 && n != before;
    });
    long after = bus.listening(sid).channel();
    String next = "pod-a#" + Integer.toHexString(holders.incrementAndGet()) + bus.listening(sid).holderSuffix();
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200))
        .ignoreExceptions().until(() -> get(storeA.accept(sid, 102, next, RequestFlags.NONE, "")) != null);
    get(storeB.deliver(sid, List.of("<m id='after-failover'/>")));
    assertThat(vouched(after)).isTrue();
    assertThat(answers.remove(next)).as("the answer came on the sharded channel before the fence").contains("after-failover");
  }

  /** A Redis (or an ACL) without sharded pub/sub: requests listen on the pod channel, nothing fails. */
  @Test
  @Order(4)
  void shardedPubSubRefusedLeavesRequestsOnThePodChannel() throws Exception {
    for (RedisProcess n : cluster.nodes()) {
      if (n.isAlive()) {
        assertThat(n.cli("acl", "setuser", "default", "-ssubscribe").trim()).isEqualTo("OK");
      }
    }
    // a session in a slot with no subscription yet tries one, and is refused
    String sid;
    do {
      sid = newSession();
    } while (bus.listening(sid).channel() > 0);
    String refused = sid;
    await().atMost(Duration.ofSeconds(20)).until(() -> {
      bus.listening(refused);
      return bus.shardedUnavailable();
    });
    String fresh;
    do {
      fresh = newSession();
    } while (bus.listening(fresh).channel() > 0);
    assertThat(bus.listening(fresh)).isEqualTo(new PodBus.Listening("", -1));
    // its answers take the pod channel
    String holder = "pod-a#" + Integer.toHexString(holders.incrementAndGet());
    get(storeA.accept(fresh, 101, holder, RequestFlags.NONE, ""));
    get(storeB.deliver(fresh, List.of("<m id='classic'/>")));
    await().atMost(Duration.ofSeconds(20)).until(() -> answers.containsKey(holder));
  }
}
