package io.xbosh.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import io.xbosh.protocol.BodyWriter;
import io.xbosh.protocol.TerminateCondition;
import io.xbosh.testing.RedisProcess;
import io.vertx.redis.client.RedisConnection;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The store contract against a real redis-server started on a free port, the scripts on a
 * {@link TestClock} (SecureRedisIT runs the contract on Redis' own clock).
 */
class RedisSessionStoreIT extends SessionStoreContract {

  private static RedisProcess redisServer;
  private static Vertx vertx;
  private static Redis redis;
  private static RedisSessionStore store;
  private static TestClock clock;

  @BeforeAll
  static void startRedis() throws Exception {
    redisServer = RedisProcess.start();
    vertx = Vertx.vertx();
    redis = Redis.createClient(vertx, redisServer.url());
    clock = new TestClock(redis, System.currentTimeMillis());
    store = clocked("pod-a");
  }

  @AfterAll
  static void stopRedis() throws Exception {
    if (redis != null) {
      get(redis.close());
    }
    if (vertx != null) {
      get(vertx.close());
    }
    if (redisServer != null) {
      redisServer.close();
    }
  }

  @Override
  SessionStore store() {
    return store;
  }

  @Override
  SessionStore store(int maxOut, int maxOutBytes, int maxResponseBytes) {
    return new RedisSessionStore(redis, false, "pod-a", maxOut, maxOutBytes, maxResponseBytes, 60, SessionStore.DEFAULT_MAX_STREAMS,
        new io.micrometer.core.instrument.simple.SimpleMeterRegistry(), TestClock.scriptEdits());
  }

  @Override
  void advance(long ms) throws Exception {
    clock.advance(ms);
  }

  /** A pod's store on the test's clock. */
  private static RedisSessionStore clocked(String pod) {
    return new RedisSessionStore(redis, false, pod, 50, SessionStore.DEFAULT_MAX_QUEUED_BYTES, SessionStore.DEFAULT_MAX_RESPONSE_BYTES, 60,
        SessionStore.DEFAULT_MAX_STREAMS, new io.micrometer.core.instrument.simple.SimpleMeterRegistry(), TestClock.scriptEdits());
  }

  @Test
  void aRestingSessionWhoseValuesAreSmallAgainIsAListpack() throws Exception {
    String sid = newSession(1, false);
    String key = RedisSessionStore.sessionKey(sid);
    String big = "<message xmlns=\"jabber:client\"><body>" + "x".repeat(200) + "</body></message>";
    get(store.accept(sid, 101, "pod-a#1", RequestFlags.NONE, big)); // a payload larger than hash-max-listpack-value, kept for the owner
    assertThat(encoding(key)).isEqualTo("hashtable");
    long ttl = get(redis.send(Request.cmd(Command.PTTL).arg(key))).toLong();
    store.forwardsTaken(s -> s.equals(sid) ? 1 : 0); // the owner's link took it
    try {
      get(store.accept(sid, 102, "pod-a#2", RequestFlags.NONE, ""));
    } finally {
      store.forwardsTaken(s -> 0);
    }
    // empty answers are stored as a few bytes (without the <body/> start): nothing large is left
    assertThat(encoding(key)).isEqualTo("listpack");
    assertThat(get(redis.send(Request.cmd(Command.PTTL).arg(key))).toLong()).as("the TTL survives")
        .isGreaterThan(ttl - 10_000);
    assertThat(get(store.accept(sid, 101, "pod-a#3", RequestFlags.NONE, big)).immediate()).as("a resend still gets its answer, whole")
        .isEqualTo(io.xbosh.protocol.BodyWriter.OPEN + "/>");
  }

  private static String encoding(String key) throws Exception {
    return get(redis.send(Request.cmd(Command.OBJECT).arg("ENCODING").arg(key))).toString();
  }

  @Test
  void scriptsReloadAfterScriptFlush() throws Exception {
    String sid = newSession(1, false);
    get(redis.send(Request.cmd(Command.SCRIPT).arg("FLUSH")));
    assertThat(get(store.accept(sid, 101, "p#1", RequestFlags.NONE, "")).outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
  }

  @Test
  void functionsLoadAgainAfterFunctionFlush() throws Exception {
    String sid = newSession(1, false);
    get(redis.send(Request.cmd(Command.FUNCTION).arg("FLUSH")));
    get(redis.send(Request.cmd(Command.CONFIG).arg("RESETSTAT")));
    assertThat(get(store.accept(sid, 101, "p#1", RequestFlags.NONE, "")).outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
    String stats = get(redis.send(Request.cmd(Command.INFO).arg("commandstats"))).toString();
    // the FCALL that found nothing, the load, the FCALL again; no script
    assertThat(stats).contains("cmdstat_fcall:calls=2,").contains("cmdstat_function|load:calls=1,").doesNotContain("cmdstat_eval");
    assertThat(get(redis.send(Request.cmd(Command.FUNCTION).arg("LIST")))).isNotEmpty();
  }

  @Test
  void callsThatFindTheLibraryMissingTogetherLoadItOnce() throws Exception {
    List<String> sids = new java.util.ArrayList<>();
    for (int i = 0; i < 20; i++) {
      sids.add(newSession(1, false));
    }
    get(redis.send(Request.cmd(Command.FUNCTION).arg("FLUSH")));
    get(redis.send(Request.cmd(Command.CONFIG).arg("RESETSTAT")));
    List<io.vertx.core.Future<Accepted>> all = new java.util.ArrayList<>();
    for (String sid : sids) {
      all.add(store.accept(sid, 101, "p#1", RequestFlags.NONE, ""));
    }
    get(io.vertx.core.Future.all(all));
    for (var a : all) {
      assertThat(a.result().outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
    }
    String stats = get(redis.send(Request.cmd(Command.INFO).arg("commandstats"))).toString();
    // the first calls' replies may come before the load is sent (each then loads): never one load per call
    java.util.regex.Matcher loads = java.util.regex.Pattern.compile("cmdstat_function\\|load:calls=(\\d+),").matcher(stats);
    assertThat(loads.find()).isTrue();
    assertThat(Integer.parseInt(loads.group(1))).isBetween(1, 5);
  }

  @Test
  void aUserWhoMayNotCallFunctionsRunsTheScripts() throws Exception {
    get(redis.send(Request.cmd(Command.ACL).arg("SETUSER").arg("nofunctions").arg("on").arg(">pw").arg("~*").arg("&*")
        .arg("+@all").arg("-fcall").arg("-function")));
    Redis limited = Redis.createClient(vertx, redisServer.url().replace("redis://", "redis://nofunctions:pw@"));
    try {
      RedisSessionStore scripts = new RedisSessionStore(limited, false, "pod-a", 50, SessionStore.DEFAULT_MAX_QUEUED_BYTES,
          SessionStore.DEFAULT_MAX_RESPONSE_BYTES, 60, SessionStore.DEFAULT_MAX_STREAMS,
          new io.micrometer.core.instrument.simple.SimpleMeterRegistry(), TestClock.scriptEdits());
      String sid = newSession(1, false);
      get(redis.send(Request.cmd(Command.CONFIG).arg("RESETSTAT")));
      assertThat(get(scripts.accept(sid, 101, "p#1", RequestFlags.NONE, "<m/>")).forwards()).hasSize(1);
      assertThat(get(scripts.deliver(sid, List.of(MSG))).answers()).hasSize(1);
      String stats = get(redis.send(Request.cmd(Command.INFO).arg("commandstats"))).toString();
      // the refused FCALL once (Redis counts it as rejected), then scripts only
      assertThat(stats).containsPattern("cmdstat_fcall:calls=0,[^\\r\\n]*rejected_calls=1,").contains("cmdstat_evalsha:calls=2,");
    } finally {
      get(limited.close());
      get(redis.send(Request.cmd(Command.ACL).arg("DELUSER").arg("nofunctions")));
    }
  }

  @Test
  void refusalsThatMeanNoFunctions() {
    assertThat(RedisSessionStore.functionsRefused(new RuntimeException("ERR unknown command `FCALL`, with args beginning with: `xb`")))
        .isTrue();
    assertThat(RedisSessionStore.functionsRefused(new RuntimeException("ERR unknown command 'fcall'"))).isTrue();
    assertThat(RedisSessionStore.functionsRefused(
        new RuntimeException("NOPERM this user has no permissions to run the 'fcall' command or its subcommand"))).isTrue();
    assertThat(RedisSessionStore.functionsRefused(new RuntimeException("NOPERM User xbosh has no permissions to run the 'function|load' command")))
        .isTrue();
    // a command a function calls, refused by the ACL: the function's own error, not a reason to leave functions
    assertThat(RedisSessionStore.functionsRefused(new RuntimeException(
        "ERR The user executing the script can't run this command or subcommand script: xb_1_accept, on @user_function:12."))).isFalse();
    assertThat(RedisSessionStore.functionsRefused(new RuntimeException(
        "NOPERM this user has no permissions to run the 'hgetall' command or its subcommand, on @user_function"))).isFalse();
    assertThat(RedisSessionStore.isMissingFunction(new RuntimeException("ERR Function not found"))).isTrue();
  }

  @Test
  void aSessionWithoutPackedParametersIsReadFromTheirOwnFields() throws Exception {
    // A version before the packed parameters (p) wrote only their own fields, which create still
    // writes for it: a session without p goes through the same steps as one with it, alike
    io.xbosh.protocol.SessionParams p = new io.xbosh.protocol.SessionParams(30, 1, 2, 60, 0, "1.11",
        "text/xml; charset=iso-8859-1", false, "localhost", "en", null, null);
    String packed = java.util.UUID.randomUUID().toString();
    String plain = java.util.UUID.randomUUID().toString();
    for (String sid : List.of(packed, plain)) {
      get(store.create(new SessionRecord(sid, p, "pod-a", 100)));
    }
    String key = RedisSessionStore.sessionKey(plain);
    for (String f : List.of("hold", "req", "wait", "inact", "ack", "ct", "leg", "own", "pol", "k")) {
      assertThat(get(redis.send(Request.cmd(Command.HEXISTS).arg(key).arg(f))).toInteger()).as(f).isEqualTo(1);
    }
    assertThat(get(redis.send(Request.cmd(Command.HDEL).arg(key).arg("p"))).toInteger()).isEqualTo(1);
    RedisSessionStore other = clocked("pod-b");
    List<String> runs = new java.util.ArrayList<>();
    for (String sid : List.of(packed, plain)) {
      Accepted first = get(store.accept(sid, 101, "pod-a#1", RequestFlags.NONE, "<presence/>"));
      assertThat(first.content()).isEqualTo("text/xml; charset=iso-8859-1");
      String run = first + " " + get(store.deliver(sid, List.of("<message/>")))
          + " " + get(other.accept(sid, 102, "pod-b#2", RequestFlags.NONE, "<iq/>"))
          + " " + get(store.drain(sid)) + " " + get(store.deliver(sid, List.of("<message/>")))
          + " " + get(store.release(sid, 102, "pod-b#2", false));
      var fields = get(redis.send(Request.cmd(Command.HGETALL).arg(RedisSessionStore.sessionKey(sid))));
      java.util.TreeMap<String, String> m = new java.util.TreeMap<>();
      for (String k : fields.getKeys()) {
        m.put(k, fields.get(k).toString());
      }
      m.remove("p");
      runs.add(run + " " + m);
    }
    assertThat(runs.get(1)).isEqualTo(runs.get(0));
  }

  /** Every field and value of the session hash, and the inbound list, as text. */
  private static String snapshot(String sid) throws Exception {
    var fields = get(redis.send(Request.cmd(Command.HGETALL).arg(RedisSessionStore.sessionKey(sid))));
    java.util.TreeMap<String, String> m = new java.util.TreeMap<>();
    for (String k : fields.getKeys()) {
      m.put(k, fields.get(k).toString());
    }
    return m + " in=" + get(redis.send(Request.cmd(Command.LRANGE).arg(RedisSessionStore.inKey(sid)).arg(0).arg(-1)))
        + " out=" + get(redis.send(Request.cmd(Command.LRANGE).arg(RedisSessionStore.outKey(sid)).arg(0).arg(-1)));
  }

  /** Over maxmemory (noeviction) until {@code restore} runs. */
  private static AutoCloseable outOfMemory() throws Exception {
    get(redis.send(Request.cmd(Command.CONFIG).arg("SET").arg("maxmemory-policy").arg("noeviction")));
    get(redis.send(Request.cmd(Command.CONFIG).arg("SET").arg("maxmemory").arg("1")));
    return () -> get(redis.send(Request.cmd(Command.CONFIG).arg("SET").arg("maxmemory").arg("0")));
  }

  @Test
  void scriptRefusedForMemoryChangesNothingAndTheSessionGoesOnAfter() throws Exception {
    String sid = newSession(1, false);
    // rid 102 parks; 101 would take it out of the parked field before its first growing write
    get(store.accept(sid, 102, "pod-a#2", RequestFlags.NONE, "<two/>"));
    get(store.deliver(sid, List.of(MSG)));
    String before = snapshot(sid);
    try (AutoCloseable oom = outOfMemory()) {
      assertThatThrownBy(() -> get(store.accept(sid, 101, "pod-a#1", RequestFlags.NONE, "<one/>"))).hasMessageContaining("OOM");
      assertThatThrownBy(() -> get(store.deliver(sid, List.of(MSG2)))).hasMessageContaining("OOM");
      assertThatThrownBy(() -> get(store.release(sid, 102, "pod-a#2"))).hasMessageContaining("OOM");
      assertThat(snapshot(sid)).isEqualTo(before);
    }
    Accepted a = get(store.accept(sid, 101, "pod-a#1", RequestFlags.NONE, "<one/>"));
    assertThat(a.forwards()).containsExactly(new Forward(1, "<one/>", false, false), new Forward(2, "<two/>", false, false));
    assertThat(a.answers()).containsExactly(new Answer(101, "pod-a#1", OPEN + ">" + MSG + "</body>"));
  }

  @Test
  void allKeysOfASessionShareOneSlotAndExpire() throws Exception {
    String sid = newSession(1, false);
    get(store.deliver(sid, List.of(MSG)));
    // Redis Cluster hashes only the text between the first '{' and the next '}'
    assertThat(hashTag(RedisSessionStore.sessionKey(sid))).isEqualTo(sid);
    assertThat(hashTag(RedisSessionStore.outKey(sid))).isEqualTo(sid);
    assertThat(hashTag(RedisSessionStore.inKey(sid))).isEqualTo(sid);
    assertThat(get(redis.send(Request.cmd(Command.PTTL).arg(RedisSessionStore.sessionKey(sid)))).toLong()).isPositive();
    assertThat(get(redis.send(Request.cmd(Command.PTTL).arg(RedisSessionStore.outKey(sid)))).toLong()).isPositive();
  }

  private static String hashTag(String key) {
    int open = key.indexOf('{');
    int close = key.indexOf('}', open + 1);
    return key.substring(open + 1, close);
  }

  @Test
  void oneRoundTripPerOperation() throws Exception {
    String sid = newSession(1, false);
    get(store.accept(sid, 101, "p#1", RequestFlags.NONE, "")); // the library loaded
    get(redis.send(Request.cmd(Command.CONFIG).arg("RESETSTAT")));
    get(store.accept(sid, 102, "p#2", RequestFlags.NONE, "<presence/>"));
    get(store.deliver(sid, null, "l1:1", List.of(MSG, MSG2)));
    get(store.deliver(sid, null, "l1:1", List.of(MSG, MSG2))); // a retry after a lost reply too
    String stats = get(redis.send(Request.cmd(Command.INFO).arg("commandstats"))).toString();
    assertThat(stats).contains("cmdstat_fcall:calls=3,").doesNotContain("cmdstat_eval");
  }

  /** Collects what is published on a channel, on a connection of its own. */
  private static List<String> listen(String channel) throws Exception {
    List<String> got = new CopyOnWriteArrayList<>();
    RedisConnection conn = get(Redis.createClient(vertx, redisServer.url()).connect());
    conn.handler(r -> {
      if (r.size() >= 3 && "message".equals(r.get(0).toString())) {
        got.add(r.get(2).toString());
      }
    });
    get(conn.send(Request.cmd(Command.SUBSCRIBE).arg(channel)));
    return got;
  }

  @Test
  void c01_payloadAcceptedByAnotherPodWaitsForTheOwnerInOrder() throws Exception {
    String sid = newSession(1, false); // owned by pod-a
    RedisSessionStore podB = clocked("pod-b");
    List<String> toA = listen("xb:pod:pod-a");
    // rid 102 arrives first (parked), then 101 releases both: handed over, not returned to pod-b
    assertThat(get(podB.accept(sid, 102, "pod-b#2", RequestFlags.NONE, "<two/>")).outcome()).isEqualTo(Accepted.Outcome.PARKED);
    Accepted a = get(podB.accept(sid, 101, "pod-b#1", RequestFlags.NONE, "<one/>"));
    assertThat(a.forwards()).isEmpty();
    await().atMost(Duration.ofSeconds(5)).until(() -> toA.contains("f\n" + sid));
    assertThat(get(store.drain(sid))).containsExactly(new Forward(1, "<one/>", false, false), new Forward(2, "<two/>", false, false));
    assertThat(get(store.drain(sid))).isEmpty();
    // the owner's own requests still come straight back
    // an empty poll accepted elsewhere hands nothing over
    get(podB.accept(sid, 103, "pod-b#3", RequestFlags.NONE, ""));
    assertThat(get(store.drain(sid))).isEmpty();
    assertThat(get(store.accept(sid, 104, "pod-a#4", RequestFlags.NONE, "<three/>")).forwards()).containsExactly(new Forward(3, "<three/>", false, false));
  }

  @Test
  void c01_payloadsTheOwnerTookInADrainWhoseReplyWasLostAreGivenAgainByNumber() throws Exception {
    String sid = newSession(1, false); // owned by pod-a
    RedisSessionStore podB = clocked("pod-b");
    get(podB.accept(sid, 101, "pod-b#1", RequestFlags.NONE, "<one/>"));
    get(podB.accept(sid, 102, "pod-b#2", RequestFlags.NONE, "<two/>"));
    // the owner's drain ran, its reply was lost: the inbound list is empty now
    get(store.drain(sid));
    assertThat(get(store.drain(sid))).isEmpty();
    assertThat(get(store.forwardsFrom(sid, 1))).containsExactly(new Forward(1, "<one/>", false, false), new Forward(2, "<two/>", false, false));
    // the latest KEPT_FORWARDS numbers only, whichever way they reached the owner
    long rid = 102;
    for (int i = 0; i < 2 * SessionStore.KEPT_FORWARDS; i++) {
      RedisSessionStore via = i % 3 == 0 ? store : podB;
      get(via.accept(sid, ++rid, (via == store ? "pod-a#" : "pod-b#") + rid, RequestFlags.NONE, "<p" + rid + "/>"));
      if (i % 4 == 0) {
        get(store.drain(sid));
      }
    }
    get(store.drain(sid));
    long fs = 2 + 2 * SessionStore.KEPT_FORWARDS;
    assertThat(get(store.forwardsFrom(sid, 1))).extracting(Forward::seq)
        .containsExactlyElementsOf(java.util.stream.LongStream.rangeClosed(fs - SessionStore.KEPT_FORWARDS + 1, fs).boxed().toList());
    assertThat(fieldNames(sid).stream().filter(k -> k.startsWith("w:")).count()).isEqualTo(SessionStore.KEPT_FORWARDS);
    // an ended session keeps only its tombstone: a late take adds nothing to it
    get(podB.accept(sid, ++rid, "pod-b#" + rid, RequestFlags.NONE, "<late/>"));
    get(store.terminate(sid, BodyWriter.terminateOpen(TerminateCondition.REMOTE_CONNECTION_FAILED), ""));
    get(store.drain(sid));
    assertThat(fieldNames(sid)).containsExactly("term");
  }

  private static List<String> fieldNames(String sid) throws Exception {
    List<String> names = new java.util.ArrayList<>();
    for (io.vertx.redis.client.Response k : get(redis.send(Request.cmd(Command.HKEYS).arg(RedisSessionStore.sessionKey(sid))))) {
      names.add(k.toString());
    }
    return names;
  }

  @Test
  void c02_answerForARequestHeldByAnotherPodIsPublishedToIt() throws Exception {
    String sid = newSession(1, false);
    RedisSessionStore podB = clocked("pod-b");
    List<String> toB = listen("xb:pod:pod-b");
    get(podB.accept(sid, 101, "pod-b#7", RequestFlags.NONE, ""));
    // the owner reads a stanza from the server: the held request on pod-b gets it
    SessionStore.Delivery d = get(store.deliver(sid, List.of(MSG)));
    String body = OPEN + ">" + MSG + "</body>";
    assertThat(d.answers()).containsExactly(new Answer(101, "pod-b#7", body));
    await().atMost(Duration.ofSeconds(5)).until(() -> toB.contains("a\npod-b#7\n" + body));
  }

  @Test
  void c02_aRetriedDeliveryGivesItsAnswersAgainButPublishesNothingAgain() throws Exception {
    String sid = newSession(1, false);
    RedisSessionStore podB = clocked("pod-b");
    List<String> toB = listen("xb:pod:pod-b");
    get(podB.accept(sid, 101, "pod-b#7", RequestFlags.NONE, ""));
    String body = OPEN + ">" + MSG + "</body>";
    assertThat(get(store.deliver(sid, null, "l1:1", List.of(MSG))).answers()).containsExactly(new Answer(101, "pod-b#7", body));
    // the reply was lost: the retry replies as the first time did, and the holder is not told twice
    assertThat(get(store.deliver(sid, null, "l1:1", List.of(MSG))).answers()).containsExactly(new Answer(101, "pod-b#7", body));
    get(podB.accept(sid, 102, "pod-b#8", RequestFlags.NONE, ""));
    String next = OPEN + ">" + MSG2 + "</body>";
    assertThat(get(store.deliver(sid, null, "l1:2", List.of(MSG2))).answers()).containsExactly(new Answer(102, "pod-b#8", next));
    // published in order on one channel: once the next answer is here, a second one would be too
    await().atMost(Duration.ofSeconds(5)).until(() -> toB.contains("a\npod-b#8\n" + next));
    assertThat(toB).containsExactly("a\npod-b#7\n" + body, "a\npod-b#8\n" + next);
    // the session hash holds the link's latest token and what it answered, one field
    assertThat(get(redis.send(Request.cmd(Command.HGET).arg(RedisSessionStore.sessionKey(sid)).arg("dt"))).toString())
        .isEqualTo("l1:2 102=pod-b#8");
  }

  @Test
  void c03_terminateAcceptedElsewhereStillReachesTheOwner() throws Exception {
    String sid = newSession(1, false);
    RedisSessionStore podB = clocked("pod-b");
    get(podB.accept(sid, 101, "pod-b#1", RequestFlags.NONE.withTerminate(), "<presence type='unavailable'/>"));
    assertThat(get(store.existing(List.of(sid)))).isEmpty();
    assertThat(get(store.drain(sid))).containsExactly(new Forward(1, "<presence type='unavailable'/>", false, true));
  }

  @Test
  void c03_anEndDecidedOnAnotherPodIsToldToTheOwnerAndOnlyToIt() throws Exception {
    String sid = newSession(1, false); // owned by pod-a
    RedisSessionStore podB = clocked("pod-b");
    List<String> toA = listen("xb:pod:pod-a");
    List<String> toB = listen("xb:pod:pod-b");
    // the owner's expiry index would read the session only later: the end is published to it
    assertThat(get(podB.refuse(sid, BodyWriter.terminateOpen(TerminateCondition.POLICY_VIOLATION), true)).ended()).isTrue();
    await().atMost(Duration.ofSeconds(5)).until(() -> toA.contains("e\n" + sid));
    // an end the owner decides itself needs no notice
    String own = newSession(1, false);
    get(store.terminate(own, BodyWriter.terminateOpen(TerminateCondition.REMOTE_CONNECTION_FAILED), ""));
    String marker = newSession(1, false);
    get(podB.refuse(marker, BodyWriter.terminateOpen(TerminateCondition.POLICY_VIOLATION), true));
    await().atMost(Duration.ofSeconds(5)).until(() -> toA.contains("e\n" + marker));
    assertThat(toA).doesNotContain("e\n" + own);
    assertThat(toB).noneMatch(m -> m.startsWith("e\n"));
  }

  @Test
  void c04_payloadsAcceptedElsewhereThatTheOwnerNeverTookAreReportedInTheTerminateBody() throws Exception {
    String sid = newSession(1, false); // owned by pod-a, which dies before draining
    RedisSessionStore podB = clocked("pod-b");
    String payload = "<message xmlns=\"jabber:client\" to=\"bob@example.org\" id=\"m1\"><body>lost</body></message>";
    get(podB.accept(sid, 101, "pod-b#1", RequestFlags.NONE, payload));
    get(podB.accept(sid, 102, "pod-b#2", RequestFlags.NONE.withRestart(), "")); // a restart carries nothing to report
    String open = BodyWriter.terminateOpen(TerminateCondition.REMOTE_CONNECTION_FAILED);
    SessionStore.Terminated t = get(podB.terminate(sid, open, ""));
    String report = "<undelivered xmlns=\"" + SessionStore.UNDELIVERED_NS + "\">" + payload + "</undelivered>";
    assertThat(t.answers()).containsExactly(new Answer(102, "pod-b#2", open + ">" + report + "</body>"));
    assertThat(t.tombstone()).isEqualTo(open + ">" + report + "</body>");
    // nobody writes them later
    assertThat(get(store.drain(sid))).isEmpty();
  }
}
