package io.xbosh.session;

import static org.assertj.core.api.Assertions.fail;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import io.xbosh.protocol.BodyWriter;
import io.xbosh.protocol.BoshException;
import io.xbosh.protocol.SessionParams;
import io.xbosh.testing.RedisProcess;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The two stores are one state machine: long random sequences of operations drive the Lua scripts
 * (on a real redis-server) and {@link InMemorySessionStore} side by side, with one clock shared by
 * both, and every reply (bodies byte for byte) and a digest of the session's state after every step
 * must be equal.
 *
 * <p>The clock: the scripts read {@code TIME}; here they read the test's clock from a hash instead
 * (one text replacement in the prelude, see {@link #CLOCK_EDIT}), and key expiry follows that clock
 * because the test moves every key's TTL back by each advance itself (and deletes what it expires).
 * Redis under libfaketime would have been the more faithful clock, but Debian's redis-server
 * (jemalloc) hangs at start-up under it.
 *
 * <p>The suite runs a fixed set of seeds. A release check runs more:
 * {@code -Dxbosh.differential.seeds=1-2000 -Dxbosh.differential.steps=600} (a range or a
 * comma-separated list); a failure prints the seed and every operation up to the divergence, and
 * {@code -Dxbosh.differential.seeds=<seed>} replays it.
 */
class SessionStoreDifferentialIT {

  private static final String POD = "pod-a";
  private static final int MAX_OUT = 6;
  private static final int MAX_OUT_BYTES = 700;
  private static final int MAX_BODY_BYTES = 260;
  private static final int TOMBSTONE_S = 20;
  private static final int MAX_STREAMS = 3;
  /** The clock moves in steps of this much: what redis' PTTL lost to real time is rounded back up to it. */
  private static final long GRID_MS = 500;
  private static final long START_MS = 1_767_225_600_000L; // 2026-01-01T00:00:00Z
  private static final String CLOCK_KEY = "xb-test-clock";
  /** The scripts read the test's clock: seconds and microseconds as TIME gives them. */
  static final Map<String, String> CLOCK_EDIT = Map.of("redis.call('TIME')", "redis.call('HMGET', '" + CLOCK_KEY + "', 's', 'us')");

  private static RedisProcess redisServer;
  private static Vertx vertx;
  private static Redis redis;

  @BeforeAll
  static void startRedis() throws Exception {
    redisServer = RedisProcess.start();
    vertx = Vertx.vertx();
    redis = Redis.createClient(vertx, redisServer.url());
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

  @Test
  void bothStoresGiveTheSameRepliesAndStatesOverRandomSequences() throws Exception {
    List<Long> seeds = seeds(System.getProperty("xbosh.differential.seeds", "1-40"));
    int steps = Integer.getInteger("xbosh.differential.steps", 250);
    for (long seed : seeds) {
      new Run(seed, steps).run();
    }
  }

  static List<Long> seeds(String spec) {
    List<Long> out = new ArrayList<>();
    for (String part : spec.split(",")) {
      String p = part.strip();
      int dash = p.indexOf('-', 1);
      if (dash > 0) {
        for (long s = Long.parseLong(p.substring(0, dash)); s <= Long.parseLong(p.substring(dash + 1)); s++) {
          out.add(s);
        }
      } else if (!p.isEmpty()) {
        out.add(Long.parseLong(p));
      }
    }
    return out;
  }

  /** One seed's sequence against fresh stores. */
  private static final class Run {
    final long seed;
    final int steps;
    final Random rnd;
    long now = START_MS;
    final InMemorySessionStore mem;
    final RedisSessionStore red;
    final List<String> log = new ArrayList<>();
    final List<String> sids = new ArrayList<>();
    /** the client's view of the current session */
    String sid;
    long nextRid;
    boolean streamsOn;
    boolean ack;
    boolean encrypted;
    final List<long[]> sent = new ArrayList<>(); // rid, holder number
    int holders;
    List<String> keys = new ArrayList<>();
    int keyAt;
    int sessionNo;

    Run(long seed, int steps) {
      this.seed = seed;
      this.steps = steps;
      this.rnd = new Random(seed);
      this.mem = new InMemorySessionStore(MAX_OUT, MAX_OUT_BYTES, MAX_BODY_BYTES, TOMBSTONE_S, MAX_STREAMS, () -> now);
      this.red = new RedisSessionStore(redis, false, POD, MAX_OUT, MAX_OUT_BYTES, MAX_BODY_BYTES, TOMBSTONE_S, MAX_STREAMS,
          new SimpleMeterRegistry(), CLOCK_EDIT);
    }

    void run() throws Exception {
      get(redis.send(Request.cmd(Command.FLUSHALL)));
      setRedisClock();
      newSession();
      for (int step = 0; step < steps; step++) {
        step();
      }
    }

    void setRedisClock() throws Exception {
      get(redis.send(Request.cmd(Command.HSET).arg(CLOCK_KEY).arg("s").arg(Long.toString(now / 1000)).arg("us")
          .arg(Long.toString(now % 1000 * 1000))));
    }

    String holder(int n) {
      // a few requests held by another pod: their answers are published
      return (n % 7 == 3 ? "pod-b#" : POD + "#") + n;
    }

    void newSession() throws Exception {
      sessionNo++;
      sid = "s" + seed + "-" + sessionNo;
      sids.add(sid);
      int hold = rnd.nextInt(3);
      int requests = hold + 1 + (rnd.nextInt(4) == 0 ? 1 : 0);
      int wait = rnd.nextInt(5) == 0 ? 0 : 10 + rnd.nextInt(50);
      int inactivity = 30 + rnd.nextInt(4) * 15;
      int polling = rnd.nextInt(3) == 0 ? 0 : 1 + rnd.nextInt(3);
      ack = rnd.nextBoolean();
      String ver = rnd.nextInt(6) == 0 ? "1.5" : "1.11";
      SessionParams p = new SessionParams(wait, hold, requests, inactivity, polling, ver, "text/xml; charset=utf-8", ack,
          "localhost", "en", null, null);
      streamsOn = rnd.nextInt(3) == 0;
      encrypted = rnd.nextInt(4) == 0;
      nextRid = 1000 + rnd.nextInt(1000);
      keys = new ArrayList<>();
      keyAt = 0;
      String newKey = null;
      if (rnd.nextInt(3) == 0) {
        newKey = chain(rnd.nextInt(1 << 20), 12);
      }
      sent.clear();
      SessionRecord r = new SessionRecord(sid, p, POD, nextRid, "<creation n='" + sessionNo + "'/>", newKey,
          streamsOn ? "s0" : null, encrypted);
      nextRid++;
      compare("create " + sid + " " + p + " newkey=" + newKey + " streams=" + streamsOn + " tls=" + encrypted,
          s -> s.create(r).map(v -> "ok"));
    }

    /** keys[0] is the newkey; keys[i] hashes to keys[i-1] (XEP-0124 §15). */
    String chain(int base, int n) {
      List<String> c = new ArrayList<>();
      String k = "k" + seed + "x" + base;
      for (int i = 0; i < n; i++) {
        c.add(k);
        k = sha1(k);
      }
      java.util.Collections.reverse(c);
      keys.addAll(c);
      return c.get(0);
    }

    void step() throws Exception {
      int op = rnd.nextInt(100);
      if (op < 38) {
        accept();
      } else if (op < 50) {
        deliver();
      } else if (op < 56) {
        releaseOrAbandon(rnd.nextBoolean());
      } else if (op < 59) {
        answered();
      } else if (op < 67) {
        advance();
      } else if (op < 69) {
        compare("drain " + sid, s -> s.drain(sid).map(String::valueOf));
      } else if (op < 72) {
        long from = rnd.nextInt(12);
        compare("forwardsFrom " + sid + " " + from, s -> s.forwardsFrom(sid, from).map(String::valueOf));
      } else if (op < 74) {
        String open = BodyWriter.OPEN + " type=\"terminate\" condition=\"" + (rnd.nextBoolean() ? "remote-stream-error" : "system-shutdown") + "\"";
        String children = rnd.nextBoolean() ? "" : "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>";
        compare("terminate " + sid + " " + children, s -> s.terminate(sid, open, children).map(Run::show));
      } else if (op < 77) {
        String stream = streamName(true);
        String open = BodyWriter.OPEN + " type=\"terminate\" condition=\"remote-stream-error\"";
        String children = rnd.nextBoolean() ? "" : "<stream:error/>";
        compare("endStream " + sid + " " + stream + " " + children, s -> s.endStream(sid, stream, open, children).map(Run::show));
      } else if (op < 78) {
        boolean enc = rnd.nextBoolean();
        String open = BodyWriter.OPEN + " type=\"terminate\" condition=\"bad-request\"";
        compare("refuse " + sid + " encrypted=" + enc, s -> s.refuse(sid, open, enc).map(Run::show));
      } else if (op < 82) {
        compare("leftovers " + sid, s -> s.leftovers(sid).map(String::valueOf));
      } else if (op < 84) {
        List<String> ask = new ArrayList<>(sids);
        ask.add("nosuch");
        compare("states " + ask, s -> s.states(ask).map(st -> new TreeMap<>(Map.of("live", new java.util.TreeSet<>(st.live()).toString(),
            "ended", new java.util.TreeSet<>(st.ended()).toString())).toString()));
      } else if (op < 86) {
        if (sids.size() < 4) {
          newSession();
        } else {
          accept();
        }
      } else if (op < 88) {
        // an operation on an earlier session of this run (ended or expired, usually)
        String keep = sid;
        sid = sids.get(rnd.nextInt(sids.size()));
        long rid = 1000 + rnd.nextInt(1200);
        String h = holder(++holders);
        compare("accept(old) " + sid + " " + rid + " " + h, s -> s.accept(sid, rid, h, "", "").map(Run::show));
        sid = keep;
      } else {
        accept();
      }
    }

    String streamName(boolean allowNull) {
      if (!streamsOn) {
        return allowNull && rnd.nextBoolean() ? null : "s" + rnd.nextInt(3);
      }
      int n = rnd.nextInt(5);
      return n == 0 && allowNull ? null : "s" + Math.min(n, 4);
    }

    void accept() throws Exception {
      long rid;
      int h = ++holders;
      int kind = rnd.nextInt(20);
      if (kind < 12 || sent.isEmpty()) {
        rid = nextRid++;
      } else if (kind < 15) {
        rid = nextRid + 1 + rnd.nextInt(3);
      } else if (kind < 19) {
        long[] old = sent.get(Math.max(0, sent.size() - 1 - rnd.nextInt(Math.min(sent.size(), 5))));
        rid = old[0];
      } else {
        rid = nextRid - 20 + rnd.nextInt(40);
      }
      if (rid >= nextRid) {
        nextRid = Math.max(nextRid, rid + 1 - (rnd.nextBoolean() ? 1 : 0));
      }
      sent.add(new long[] {rid, h});
      StringBuilder flags = new StringBuilder();
      String payload = "";
      int f = rnd.nextInt(40);
      boolean open = false;
      if (f == 0) {
        flags.append('r');
      } else if (f == 1) {
        flags.append('t');
      } else if (f < 4) {
        flags.append('p').append(1 + rnd.nextInt(rnd.nextBoolean() ? 5 : 120));
      } else if (f < 7) {
        flags.append('o');
        open = true;
        payload = new StreamRequest(" from=\"example.org\"", "example.org", "en", null, null).encode();
      } else if (f == 7) {
        flags.append('f');
      }
      if (!open && rnd.nextInt(5) < 3) {
        payload = stanzas(1 + rnd.nextInt(2));
      }
      if (!keys.isEmpty() || rnd.nextInt(30) == 0) {
        int pick = rnd.nextInt(10);
        if (pick < 7 && keyAt + 1 < keys.size()) {
          flags.append(";K=").append(keys.get(++keyAt));
        } else if (pick < 8 && keyAt > 0) {
          flags.append(";K=").append(keys.get(keyAt - 1)); // a stale key
        } else if (pick < 9 && keyAt + 1 < keys.size()) {
          flags.append(";K=").append(keys.get(keyAt + 1));
          int from = keys.size();
          String nk = chain(rnd.nextInt(1 << 20), 12);
          flags.append(";N=").append(nk);
          keyAt = from;
        }
      }
      if (rnd.nextInt(10) < 4) {
        flags.append(";A=").append(Math.max(0, nextRid - 1 - rnd.nextInt(4)));
      }
      if (streamsOn && (open || rnd.nextInt(4) == 0) || !streamsOn && rnd.nextInt(30) == 0) {
        flags.append(";S=").append(open ? "s" + (1 + rnd.nextInt(4)) : streamName(false));
      }
      if (encrypted ? rnd.nextInt(8) == 0 : rnd.nextInt(20) == 0) {
        flags.append(";U");
      }
      String fl = flags.toString();
      String p = payload;
      long r = rid;
      compare("accept " + sid + " " + rid + " " + holder(h) + " flags=" + fl + " payload=" + p.replace("\n", "\\n"),
          s -> s.accept(sid, r, holder(h), fl, p).map(Run::show));
    }

    String stanzas(int n) {
      StringBuilder b = new StringBuilder();
      for (int i = 0; i < n; i++) {
        int size = rnd.nextInt(10) == 0 ? 150 + rnd.nextInt(200) : rnd.nextInt(30);
        String text = "x".repeat(size) + (rnd.nextInt(5) == 0 ? "é€😀" : "");
        b.append("<message xmlns=\"jabber:client\" id=\"m").append(rnd.nextInt(1000)).append("\"><body>").append(text)
            .append("</body></message>");
      }
      return b.toString();
    }

    void deliver() throws Exception {
      String stream = rnd.nextInt(3) == 0 ? streamName(true) : null;
      List<String> batch = new ArrayList<>();
      int n = 1 + rnd.nextInt(rnd.nextBoolean() ? 2 : MAX_OUT + 1);
      for (int i = 0; i < n; i++) {
        batch.add(stanzas(1));
      }
      compare("deliver " + sid + " " + stream + " " + batch, s -> s.deliver(sid, stream, batch).map(Run::show));
    }

    long[] someSent() {
      if (sent.isEmpty()) {
        return new long[] {nextRid, ++holders};
      }
      return sent.get(Math.max(0, sent.size() - 1 - rnd.nextInt(Math.min(sent.size(), 6))));
    }

    void releaseOrAbandon(boolean release) throws Exception {
      long[] r = someSent();
      String h = rnd.nextInt(8) == 0 ? holder(++holders) : holder((int) r[1]);
      if (release) {
        boolean inOrder = rnd.nextInt(4) == 0;
        compare("release " + sid + " " + r[0] + " " + h + " inOrder=" + inOrder,
            s -> s.release(sid, r[0], h, inOrder).map(b -> b == null ? "null" : b.isEmpty() ? "NOT_ITS_TURN" : b));
      } else {
        compare("abandon " + sid + " " + r[0] + " " + h, s -> s.abandon(sid, r[0], h).map(String::valueOf));
      }
    }

    void answered() throws Exception {
      long[] r = someSent();
      String h = holder((int) r[1]);
      compare("answered " + sid + " " + r[0] + " " + h, s -> s.answered(sid, r[0], h).map(String::valueOf));
    }

    void advance() throws Exception {
      int k = rnd.nextInt(10);
      long by;
      if (k < 6) {
        by = GRID_MS * (1 + rnd.nextInt(4));
      } else if (k < 9) {
        by = GRID_MS * (10 + rnd.nextInt(60));
      } else {
        by = GRID_MS * (120 + rnd.nextInt(120));
      }
      now += by;
      // every key of the run ages by `by` on the test's clock; what that expires goes
      for (String s : sids) {
        for (String key : List.of(RedisSessionStore.sessionKey(s), RedisSessionStore.outKey(s), RedisSessionStore.inKey(s))) {
          long left = redisTtl(key);
          if (left == -2) {
            continue;
          }
          if (left == -1) {
            fail(failure("key " + key + " has no TTL"));
          }
          if (left <= by) {
            get(redis.send(Request.cmd(Command.DEL).arg(key)));
          } else {
            get(redis.send(Request.cmd(Command.PEXPIRE).arg(key).arg(Long.toString(left - by))));
          }
        }
      }
      setRedisClock();
      mem.purgeExpired();
      log.add("advance " + by + " ms");
      digests();
    }

    /** PTTL with what real time took from it since it was set rounded back onto the test clock's grid. */
    long redisTtl(String key) throws Exception {
      long pttl = get(redis.send(Request.cmd(Command.PTTL).arg(key))).toLong();
      return pttl < 0 ? pttl : (pttl + GRID_MS - 1) / GRID_MS * GRID_MS;
    }

    void compare(String what, Function<SessionStore, Future<String>> op) throws Exception {
      log.add(what);
      String a = outcome(op.apply(red));
      String b = outcome(op.apply(mem));
      if (!a.equals(b)) {
        fail(failure("replies differ\n  redis:     " + a + "\n  in-memory: " + b));
      }
      digests();
    }

    void digests() throws Exception {
      for (String s : sids) {
        String a = redisDigest(s);
        String b = memDigest(s);
        if (!a.equals(b)) {
          fail(failure("states of " + s + " differ\n  redis:     " + a + "\n  in-memory: " + b));
        }
      }
    }

    String failure(String what) {
      StringBuilder b = new StringBuilder("divergence at step " + log.size() + " of seed " + seed
          + " (replay: -Dxbosh.differential.seeds=" + seed + "): " + what + "\noperations:\n");
      for (int i = 0; i < log.size(); i++) {
        b.append(String.format("%4d %s%n", i + 1, log.get(i)));
      }
      return b.toString();
    }

    String redisDigest(String s) throws Exception {
      Response fields = get(redis.send(Request.cmd(Command.HGETALL).arg(RedisSessionStore.sessionKey(s))));
      SortedMap<String, String> m = new TreeMap<>();
      for (String k : fields.getKeys()) {
        String v = fields.get(k).toString();
        if (k.startsWith("w:")) {
          v = normalForward(Long.parseLong(k.substring(2)), v);
        }
        m.put(k, v);
      }
      List<String> out = new ArrayList<>();
      for (Response r : get(redis.send(Request.cmd(Command.LRANGE).arg(RedisSessionStore.outKey(s)).arg(0).arg(-1)))) {
        out.add(r.toString());
      }
      List<String> in = new ArrayList<>();
      for (Response r : get(redis.send(Request.cmd(Command.LRANGE).arg(RedisSessionStore.inKey(s)).arg(0).arg(-1)))) {
        in.add(r.toString());
      }
      return digest(m, out, in, redisTtl(RedisSessionStore.sessionKey(s)), out.isEmpty() ? -2 : redisTtl(RedisSessionStore.outKey(s)));
    }

    String memDigest(String s) {
      long[] ttl = mem.ttlSnapshot(s);
      return digest(mem.snapshot(s), mem.outboundSnapshot(s), List.of(), ttl[0], ttl[1]);
    }

    /**
     * One text for a session's state. Normalised, because they are representation and not behaviour:
     * a field whose value is "" or "0" counts as absent (the scripts read an absent field as its
     * default and write some fields only once they differ from it); a kept forward's flags are
     * compared as the owner reads them ({@link Forward#of}: a pause flag kept in {@code w:} is never
     * read).
     */
    static String digest(SortedMap<String, String> hash, List<String> out, List<String> in, long hashTtl, long outTtl) {
      SortedMap<String, String> m = new TreeMap<>(hash);
      m.values().removeIf(v -> v.isEmpty() || v.equals("0"));
      m.replaceAll((k, v) -> k.startsWith("w:") ? normalForward(Long.parseLong(k.substring(2)), v) : v);
      return m + " out=" + out.stream().map(Run::visible).toList() + " in=" + in + " ttl=" + hashTtl + "/" + outTtl;
    }

    static String normalForward(long seq, String v) {
      int bar = v.indexOf('|');
      Forward f = Forward.of(seq, v.substring(0, bar), v.substring(bar + 1));
      return f.flags() + "|" + f.payload();
    }

    static String visible(String item) {
      return item.replace("\u0001", "\\1").replace("\u0002", "\\2").replace("\u0003", "\\3");
    }

    static String outcome(Future<String> f) {
      try {
        return get(f);
      } catch (BoshException e) {
        // the message is log text; the condition, legacy flag and children are what the client gets
        return "BoshException " + e.condition() + " legacy=" + e.legacy() + " children=" + e.children();
      } catch (Exception e) {
        return "ERROR " + e;
      }
    }

    static String show(Accepted a) {
      return a.toString();
    }

    static String show(SessionStore.Terminated t) {
      return t.toString();
    }

    static String show(SessionStore.Delivery d) {
      return d.toString();
    }
  }

  static String sha1(String s) {
    try {
      return HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-1").digest(s.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  static <T> T get(Future<T> f) throws Exception {
    try {
      return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      throw e.getCause() instanceof Exception ex ? ex : new IllegalStateException(e.getCause());
    }
  }
}
