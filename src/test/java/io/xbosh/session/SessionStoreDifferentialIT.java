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
 * <p>The clock: the scripts read {@code TIME}; here they read the test's clock from a hash instead,
 * and every {@code PEXPIRE} also notes the key's expiry on that clock (text replacements in the
 * scripts' source, see {@link TestClock}); when the test advances its clock it deletes the keys
 * whose noted expiry has passed, as Redis would on its own. Redis under libfaketime would have been
 * the more faithful clock, but Debian's redis-server (jemalloc) hangs at start-up under it
 * ("Unexpected recursive calls to clock_gettime()").
 *
 * <p>The inbound list stays empty: every session is owned by the calling pod, the only case the
 * in-process store (one pod) has.
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
  private static final int MAX_STREAMS = 2;
  /** The clock moves in steps of this much. */
  private static final long GRID_MS = 250;
  private static final long START_MS = 1_767_225_600_000L; // 2026-01-01T00:00:00Z
  private static final String CLOCK_KEY = TestClock.CLOCK_KEY;
  private static final String TTL_KEY = TestClock.TTL_KEY;
  /** The scripts on the test's clock ({@link TestClock#scriptEdits()}); the test expires keys by the noted expiry. */
  static final Map<String, String> CLOCK_EDIT = TestClock.scriptEdits();

  private static RedisProcess redisServer;
  private static Vertx vertx;
  private static Redis redis;

  @BeforeAll
  static void startRedis() throws Exception {
    // the clock edit must find what it replaces, or the scripts would run on Redis' own clock
    for (String[] anchor : TestClock.ANCHORS) {
      try (var in = RedisSessionStore.class.getResourceAsStream(anchor[0])) {
        if (!new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).contains(anchor[1])) {
          fail(anchor[0] + " no longer contains " + anchor[1] + ": update TestClock.scriptEdits");
        }
      }
    }
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
    List<Long> seeds = seeds(System.getProperty("xbosh.differential.seeds", "1-30"));
    int steps = Integer.getInteger("xbosh.differential.steps", 200);
    Map<String, Integer> seen = new TreeMap<>();
    for (long seed : seeds) {
      new Run(seed, steps, seen).run();
    }
    // what the sequences reached, for judging the generator (and a check that it reaches the edges)
    System.out.println("differential: " + seeds.size() + " seeds x " + steps + " steps: " + seen);
    for (String edge : List.of("accept:PARKED", "accept:TAKEOVER", "accept:RESENT", "accept:ENDED", "accept:DROPPED",
        "accept:POLICY_VIOLATION", "accept:ITEM_NOT_FOUND", "deliver:FULL", "deliver:GONE", "release:NOT_ITS_TURN",
        "abandon:true", "body:report", "body:stream", "body:policy-violation", "body:ack", "terminate:ended",
        "refuse:dropped", "endStream:not-ended", "redeliver:OK", "redeliver:answers", "fills-gap:PROCESSED", "fills-gap:ITEM_NOT_FOUND", "leftovers:some", "forwardsFrom:some",
        "deadline:accept", "deadline:deliver", "deadline:release", "deadline:answered", "deadline:abandon", "deadline:refused")) {
      if (seeds.size() >= 20 && !seen.containsKey(edge)) {
        fail("the sequences never reached " + edge + ": " + seen);
      }
    }
  }

  /** Long filler in stanzas, written shorter in the failure's list of operations */
  private static final java.util.regex.Pattern LONG_RUN = java.util.regex.Pattern.compile("x{8,}");

  private static final java.util.regex.Pattern KIND = java.util.regex.Pattern.compile("^(?:Accepted\\[outcome=|Delivery\\[status=|BoshException )(\\w+)");

  /** Counts what kind of reply an operation got, and which edges of the rules its bodies show. */
  static void tally(Map<String, Integer> seen, String what, String reply) {
    String op = what.substring(0, what.indexOf(' '));
    java.util.regex.Matcher m = KIND.matcher(reply);
    String kind;
    if (m.find()) {
      kind = m.group(1);
    } else if (op.equals("terminate") || op.equals("refuse") || op.equals("endStream")) {
      kind = reply.contains("dropped=true") ? "dropped" : reply.contains("ended=true") ? "ended"
          : reply.contains("tombstone=null") ? "not-ended" : "nothing";
    } else if (op.equals("leftovers") || op.equals("forwardsFrom") || op.equals("drain")) {
      kind = reply.equals("[]") ? "none" : "some";
    } else if (op.equals("release")) {
      kind = reply.equals("null") || reply.equals("NOT_ITS_TURN") ? reply : "body";
    } else {
      kind = reply.length() > 12 ? "body" : reply;
    }
    seen.merge(op + ":" + kind, 1, Integer::sum);
    for (String mark : List.of("report", "stream", "policy-violation", "ack")) {
      if (reply.contains(" " + mark + "=") || reply.contains("<" + mark) || reply.contains("\"" + mark + "\"")) {
        seen.merge("body:" + mark, 1, Integer::sum);
      }
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
    /** whether a request is a poll (NEXT_RID, XEP-0025), drawn apart so the other draws stay as they were */
    final Random polls;
    /** whether the clock moves to a held request's deadline, drawn apart too */
    final Random deadlines;
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
    /** the session's links by stream ("null": the first), with the number of their latest batch */
    final Map<String, String> linkOf = new java.util.HashMap<>();
    final Map<String, Long> seqOf = new java.util.HashMap<>();
    int links;
    /** {stream, token, stanzas} of the latest deliver of the current session, null before one */
    Object[] lastDelivery;
    int holders;
    /** keys of every sequence begun, in any order: the next request's key is the one hashing to the state's {@code k} */
    List<String> keys = new ArrayList<>();
    int sessionNo;

    final Map<String, Integer> seen;
    final int maxOut;
    /** how far the owner's link took each session's forwards, as both stores are told (forwardsTaken) */
    final Map<String, Long> taken = new java.util.HashMap<>();
    final String bounds;

    Run(long seed, int steps, Map<String, Integer> seen) {
      this.seen = seen;
      this.seed = seed;
      this.steps = steps;
      this.rnd = new Random(seed);
      this.polls = new Random(seed * 25 + 1);
      this.deadlines = new Random(seed * 31 + 7);
      // every fourth seed runs with other bounds, some at their smallest
      Random bounds = new Random(~seed);
      boolean other = seed % 4 == 0;
      maxOut = other ? List.of(1, 2, 12).get(bounds.nextInt(3)) : MAX_OUT;
      int maxOutBytes = other ? List.of(90, 300, 5000).get(bounds.nextInt(3)) : MAX_OUT_BYTES;
      int maxBodyBytes = other ? List.of(1, 60, 100_000).get(bounds.nextInt(3)) : MAX_BODY_BYTES;
      int maxStreams = other ? 1 + bounds.nextInt(4) : MAX_STREAMS;
      int tombstone = other ? List.of(1, 5, 60).get(bounds.nextInt(3)) : TOMBSTONE_S;
      this.bounds = "maxOut=" + maxOut + " maxOutBytes=" + maxOutBytes + " maxBodyBytes=" + maxBodyBytes + " maxStreams=" + maxStreams
          + " tombstone=" + tombstone + "s";
      this.mem = new InMemorySessionStore(maxOut, maxOutBytes, maxBodyBytes, tombstone, maxStreams, () -> now);
      this.red = new RedisSessionStore(redis, false, POD, maxOut, maxOutBytes, maxBodyBytes, tombstone, maxStreams,
          new SimpleMeterRegistry(), CLOCK_EDIT);
      mem.forwardsTaken(s -> taken.getOrDefault(s, 0L));
      red.forwardsTaken(s -> taken.getOrDefault(s, 0L));
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
      String newKey = null;
      if (rnd.nextInt(3) == 0) {
        newKey = chain(rnd.nextInt(1 << 20), 12);
      }
      sent.clear();
      linkOf.clear();
      seqOf.clear();
      lastDelivery = null;
      SessionRecord r = new SessionRecord(sid, p, POD, nextRid, newKey,
          streamsOn ? "s0" : null, encrypted);
      nextRid++;
      compare("create " + sid + " " + p + " newkey=" + newKey + " streams=" + streamsOn + " tls=" + encrypted,
          s -> s.create(r).map(v -> "ok"));
    }

    /** A new key sequence (XEP-0124 §15): returns its newkey; each later key hashes to the one before. */
    String chain(int base, int n) {
      String k = "k" + seed + "x" + base;
      for (int i = 0; i < n; i++) {
        keys.add(k);
        k = sha1(k);
      }
      return k;
    }

    void step() throws Exception {
      if (!mem.states(List.of(sid)).result().live().contains(sid) && rnd.nextInt(3) != 0) {
        // the client of an ended or expired session begins a new one (earlier ones stay in the digest)
        newSession();
        return;
      }
      toADeadline();
      int op = rnd.nextInt(200);
      if (op < 90) {
        accept();
      } else if (op < 120) {
        deliver();
      } else if (op < 134) {
        releaseOrAbandon(rnd.nextBoolean());
      } else if (op < 140) {
        answered();
      } else if (op < 158) {
        advance();
      } else if (op < 161) {
        compare("drain " + sid, s -> s.drain(sid).map(String::valueOf));
      } else if (op < 167) {
        long from = rnd.nextInt(14);
        compare("forwardsFrom " + sid + " " + from, s -> s.forwardsFrom(sid, from).map(String::valueOf));
      } else if (op < 169) {
        String open = BodyWriter.OPEN + " type=\"terminate\" condition=\"" + (rnd.nextBoolean() ? "remote-stream-error" : "system-shutdown") + "\"";
        String children = rnd.nextBoolean() ? "" : "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>";
        compare("terminate " + sid + " " + children, s -> s.terminate(sid, open, children).map(Run::show));
      } else if (op < 176) {
        String stream = streamName(true);
        String open = BodyWriter.OPEN + " type=\"terminate\" condition=\"remote-stream-error\"";
        String children = rnd.nextBoolean() ? "" : "<stream:error/>";
        compare("endStream " + sid + " " + stream + " " + children, s -> s.endStream(sid, stream, open, children).map(Run::show));
      } else if (op < 178) {
        boolean enc = encrypted ? rnd.nextInt(4) == 0 : rnd.nextBoolean();
        String open = BodyWriter.OPEN + " type=\"terminate\" condition=\"bad-request\"";
        compare("refuse " + sid + " encrypted=" + enc, s -> s.refuse(sid, open, enc).map(Run::show));
      } else if (op < 186) {
        // leftovers of the current session (nothing while it lives) or of an earlier one
        String of = rnd.nextBoolean() ? sid : sids.get(rnd.nextInt(sids.size()));
        compare("leftovers " + of, s -> s.leftovers(of).map(String::valueOf));
      } else if (op < 190) {
        List<String> ask = new ArrayList<>(sids);
        ask.add("nosuch");
        compare("states " + ask, s -> s.states(ask).map(st -> "live=" + new java.util.TreeSet<>(st.live()) + " ended="
            + new java.util.TreeSet<>(st.ended())));
      } else if (op < 191) {
        // a create over a sid the run used before (ended, expired, or still live)
        String of = sids.get(rnd.nextInt(sids.size()));
        SessionParams p = new SessionParams(20, 1, 2, 30, 0, "1.11", "text/xml; charset=utf-8", false, "localhost", "en", null, null);
        SessionRecord r = new SessionRecord(of, p, POD, 5000);
        compare("create " + of + " again", st -> st.create(r).map(v -> "ok").recover(e -> Future.succeededFuture("refused: " + e.getMessage())));
      } else if (op < 194) {
        // an operation on an earlier session of this run (ended or expired, usually)
        String of = sids.get(rnd.nextInt(sids.size()));
        long rid = 1000 + rnd.nextInt(1200);
        String h = holder(++holders);
        compare("accept " + of + " " + rid + " " + h + " flags= payload=", s -> s.accept(of, rid, h, RequestFlags.NONE, "").map(Run::show));
      } else {
        accept();
      }
    }

    /** Mostly a stream the session has open, sometimes one it closed or never had; null: the first. */
    String streamName(boolean allowNull) {
      if (allowNull && rnd.nextInt(4) == 0) {
        return null;
      }
      SortedMap<String, String> st = mem.snapshot(sid);
      List<String> open = new ArrayList<>(List.of(st.getOrDefault("st", st.getOrDefault("sf", "")).split(" ")));
      open.removeIf(String::isEmpty);
      if (!open.isEmpty() && rnd.nextInt(4) != 0) {
        return open.get(rnd.nextInt(open.size()));
      }
      return "s" + rnd.nextInt(5);
    }

    void accept() throws Exception {
      // mostly requests a client would send, chosen from the state (both stores hold the same)
      SortedMap<String, String> st = mem.snapshot(sid);
      long hi = st.containsKey("hi") ? Long.parseLong(st.get("hi")) : nextRid - 1;
      long rid;
      int h = ++holders;
      int kind = rnd.nextInt(20);
      if (kind < 12) {
        rid = hi + 1;
      } else if (kind < 15) {
        rid = hi + 2 + rnd.nextInt(3);
      } else if (kind < 19 && !sent.isEmpty()) {
        rid = sent.get(Math.max(0, sent.size() - 1 - rnd.nextInt(Math.min(sent.size(), 5))))[0];
      } else {
        rid = hi - 10 + rnd.nextInt(20);
      }
      nextRid = Math.max(nextRid, rid + 1);
      sent.add(new long[] {rid, h});
      RequestFlags flags = RequestFlags.NONE;
      String payload = "";
      int f = rnd.nextInt(40);
      boolean open = false;
      if (f == 0) {
        flags = flags.withRestart();
      } else if (f == 1) {
        flags = flags.withTerminate();
      } else if (f < 4) {
        flags = flags.withPause(1 + rnd.nextInt(rnd.nextBoolean() ? 5 : 120));
      } else if (f < 7) {
        flags = flags.opening(null); // the stream's name comes below, if at all
        open = true;
        payload = new StreamRequest(" from=\"example.org\"", "example.org", "en", null, null).encode();
      } else if (f == 7) {
        flags = flags.withFragment();
      }
      if (!open && rnd.nextInt(5) < 3) {
        payload = stanzas(1 + rnd.nextInt(2));
      }
      if (!keys.isEmpty() || rnd.nextInt(30) == 0) {
        String want = st.getOrDefault("k", "");
        int at = -1;
        for (int i = 0; i < keys.size(); i++) {
          if (sha1(keys.get(i)).equals(want)) {
            at = i;
          }
        }
        int pick = rnd.nextInt(12);
        if (pick < 9 && at >= 0) {
          flags = flags.withKey(keys.get(at));
        } else if (pick < 10 && at > 0) {
          flags = flags.withKey(keys.get(at - 1)); // a key used already
        } else if (pick < 11) {
          if (at >= 0) {
            flags = flags.withKey(keys.get(at));
          }
          flags = flags.withNewKey(chain(rnd.nextInt(1 << 20), 12)); // a new sequence
        } else if (!keys.isEmpty()) {
          flags = flags.withKey(keys.get(rnd.nextInt(keys.size())));
        }
      }
      if (rnd.nextInt(10) < 4) {
        flags = flags.withAck(Math.max(0, nextRid - 1 - rnd.nextInt(4)));
      }
      if (streamsOn && (open || rnd.nextInt(4) == 0) || !streamsOn && rnd.nextInt(30) == 0) {
        flags = flags.withStream(open ? "s" + (1 + rnd.nextInt(5)) : streamName(false));
      }
      if (encrypted ? rnd.nextInt(8) == 0 : rnd.nextInt(20) == 0) {
        flags = flags.withUnencrypted(true);
      }
      RequestFlags fl = flags;
      String p = payload;
      // one request in twelve is a poll: the store numbers it, the rid drawn above is not sent
      long r = polls.nextInt(12) == 0 ? SessionStore.NEXT_RID : rid;
      boolean fillsGap = (rid == hi + 1 || r == SessionStore.NEXT_RID) && !st.getOrDefault("np", "0").equals("0");
      // a request past its deadline is answered empty by any operation, a refused one too: as if
      // released at its deadline, which is no change the refusal made
      boolean expires = deadlinePassed(sid);
      String before = redisDigest(sid);
      String reply = compare("accept " + sid + " " + r + " " + holder(h) + " flags=" + RequestFlagsCodec.encode(fl) + " payload=" + p.replace("\n", "\\n"),
          s -> s.accept(sid, r, holder(h), fl, p).map(Run::show));
      if (reply.startsWith("BoshException") && expires) {
        seen.merge("deadline:refused", 1, Integer::sum);
      } else if (reply.startsWith("BoshException") && !redisDigest(sid).equals(before)) {
        // a refused request changes nothing (both stores agreeing on a change is no excuse)
        fail(failure("a refused request changed the state\n  before: " + before + "\n  after:  " + redisDigest(sid)));
      }
      if (rnd.nextInt(3) == 0) {
        // the owner's link takes some of what it was given (never more than was numbered)
        Response fs = get(redis.send(Request.cmd(Command.HGET).arg(RedisSessionStore.sessionKey(sid)).arg("fs")));
        long numbered = fs == null ? 0 : fs.toLong();
        long prev = taken.getOrDefault(sid, 0L);
        if (numbered > prev) {
          taken.put(sid, prev + 1 + rnd.nextInt((int) Math.min(numbered - prev, 8)));
          log.add("taken " + sid + " " + taken.get(sid));
        }
      }
      if (fillsGap) {
        // the request that releases parked successors, whose keys are checked then (issue item 10)
        tally(seen, "fills-gap " + sid, reply);
      }
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
      if (lastDelivery != null && rnd.nextInt(5) == 0) {
        redeliver();
        return;
      }
      String stream = rnd.nextInt(3) == 0 ? streamName(true) : null;
      List<String> batch = new ArrayList<>();
      int n = 1 + rnd.nextInt(rnd.nextBoolean() ? 2 : maxOut + 1);
      for (int i = 0; i < n; i++) {
        batch.add(stanzas(1));
      }
      // each stream's link numbers its batches; now and then a stream gets a new link, or a batch no token
      String key = String.valueOf(stream);
      if (!linkOf.containsKey(key) || rnd.nextInt(10) == 0) {
        linkOf.put(key, "l" + (++links));
        seqOf.put(key, 0L);
      }
      long seq = seqOf.merge(key, 1L, Long::sum);
      String token = rnd.nextInt(8) == 0 ? null : linkOf.get(key) + ":" + seq;
      lastDelivery = new Object[] {stream, token, batch};
      compare("deliver " + sid + " " + stream + " " + token + " " + batch, s -> s.deliver(sid, stream, token, batch).map(Run::show));
    }

    /** The latest batch again, as a link sends it after a lost reply; now and then with an older token of its link. */
    @SuppressWarnings("unchecked")
    void redeliver() throws Exception {
      String stream = (String) lastDelivery[0];
      String token = (String) lastDelivery[1];
      List<String> batch = (List<String>) lastDelivery[2];
      if (token != null && rnd.nextInt(6) == 0) {
        long seq = Long.parseLong(token.substring(token.indexOf(':') + 1));
        token = token.substring(0, token.indexOf(':') + 1) + Math.max(0, seq - 1);
      }
      String t = token;
      String reply = compare("redeliver " + sid + " " + stream + " " + t + " " + batch, s -> s.deliver(sid, stream, t, batch).map(Run::show));
      if (reply.contains("Answer[")) {
        seen.merge("redeliver:answers", 1, Integer::sum);
      }
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
      if (k < 7) {
        by = GRID_MS * (1 + rnd.nextInt(6)); // polling, report grace
      } else if (k < 9) {
        by = 1000L * (3 + rnd.nextInt(28)); // waits, pauses, tombstones
      } else {
        by = 1000L * (30 + rnd.nextInt(70)); // inactivity
      }
      advanceBy(by);
    }

    /** Now and then the clock moves to a held request's deadline (XEP-0124 §8: the store answers it empty then), or just past it. */
    void toADeadline() throws Exception {
      long next = nextDeadline();
      if (next > now && deadlines.nextInt(5) == 0) {
        advanceBy(next - now + (deadlines.nextBoolean() ? 0 : 1 + deadlines.nextInt((int) GRID_MS)));
      }
    }

    void advanceBy(long by) throws Exception {
      now += by;
      // every key of the run ages by `by` on the test's clock; what that expires goes
      for (String s : sids) {
        for (String key : List.of(RedisSessionStore.sessionKey(s), RedisSessionStore.outKey(s), RedisSessionStore.inKey(s))) {
          long at = redisExpiry(key);
          if (at == -2) {
            continue;
          }
          if (at == -1) {
            fail(failure("key " + key + " has no TTL"));
          }
          if (at <= now) {
            get(redis.send(Request.cmd(Command.DEL).arg(key)));
            get(redis.send(Request.cmd(Command.HDEL).arg(TTL_KEY).arg(key)));
          }
        }
      }
      setRedisClock();
      mem.purgeExpired();
      log.add("advance " + by + " ms");
      digests();
      // a session gone from both stores for good needs no more digests
      String gone = "{} out=[] in=[] ttl=-2/-2";
      sids.removeIf(s -> !s.equals(sid) && memDigest(s).equals(gone));
    }

    /** When the key expires on the test's clock; -2 when there is no such key, -1 when it has no expiry. */
    long redisExpiry(String key) throws Exception {
      if (get(redis.send(Request.cmd(Command.EXISTS).arg(key))).toInteger() == 0) {
        get(redis.send(Request.cmd(Command.HDEL).arg(TTL_KEY).arg(key)));
        return -2;
      }
      Response at = get(redis.send(Request.cmd(Command.HGET).arg(TTL_KEY).arg(key)));
      return at == null ? -1 : at.toLong();
    }

    /** Milliseconds the key has left on the test's clock, as PTTL says it (-2 none, -1 no expiry). */
    long redisTtl(String key) throws Exception {
      long at = redisExpiry(key);
      return at < 0 ? at : at - now;
    }

    /** The earliest deadline of a request the current session holds, 0 when none has one. */
    long nextDeadline() {
      long next = 0;
      for (String e : mem.snapshot(sid).getOrDefault("held", "").split(" ")) {
        int at = e.indexOf('@');
        if (at > 0) {
          long d = Long.parseLong(e.substring(at + 1));
          next = next == 0 ? d : Math.min(next, d);
        }
      }
      return next;
    }

    /** Whether a request of the session is held past its deadline: the next operation answers it empty first. */
    boolean deadlinePassed(String of) {
      for (String e : mem.snapshot(of).getOrDefault("held", "").split(" ")) {
        int at = e.indexOf('@');
        if (at > 0 && Long.parseLong(e.substring(at + 1)) <= now) {
          return true;
        }
      }
      return false;
    }

    String compare(String what, Function<SessionStore, Future<String>> op) throws Exception {
      log.add(LONG_RUN.matcher(what).replaceAll(m -> m.group().charAt(0) + "{" + m.group().length() + "}"));
      String session = what.split(" ").length > 1 ? what.split(" ")[1] : "";
      if (sids.contains(session) && deadlinePassed(session)) {
        // the operation meets a request past its deadline (XEP-0124 §8), which it takes out first
        seen.merge("deadline:" + what.substring(0, what.indexOf(' ')), 1, Integer::sum);
      }
      String a = outcome(op.apply(red));
      String b = outcome(op.apply(mem));
      if (!a.equals(b)) {
        fail(failure("replies differ\n  redis:     " + a + "\n  in-memory: " + b));
      }
      tally(seen, what, a);
      digests();
      return a;
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
          + " (replay: -Dxbosh.differential.seeds=" + seed + "; stores with " + bounds + "): " + what + "\noperations:\n");
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
     * compared as the owner reads them ({@link RequestFlagsCodec#forward}: a pause flag kept in {@code w:} is never
     * read).
     */
    static String digest(SortedMap<String, String> hash, List<String> out, List<String> in, long hashTtl, long outTtl) {
      SortedMap<String, String> m = new TreeMap<>(hash);
      // the parameters packed once more (p, prelude.lua's params_text), which the scripts read in
      // place of their own fields: those are compared
      m.remove("p");
      m.values().removeIf(v -> v.isEmpty() || v.equals("0"));
      m.replaceAll((k, v) -> k.startsWith("w:") ? normalForward(Long.parseLong(k.substring(2)), v) : v);
      return m + " out=" + out.stream().map(Run::visible).toList() + " in=" + in + " ttl=" + hashTtl + "/" + outTtl;
    }

    static String normalForward(long seq, String v) {
      int bar = v.indexOf('|');
      return RequestFlagsCodec.keptEntry(RequestFlagsCodec.forward(seq, v.substring(0, bar), v.substring(bar + 1)));
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
