package io.xbosh.session;

import io.vertx.core.Future;
import io.xbosh.protocol.BodyWriter;
import io.xbosh.protocol.BoshException;
import io.xbosh.protocol.SessionParams;
import io.xbosh.protocol.TerminateCondition;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * The embedded {@link SessionStore} for a single pod without Redis. It follows the Lua scripts of
 * {@link RedisSessionStore} rule for rule; the shared contract test suite keeps the two in step.
 * Each session's state is guarded by its own monitor, held only for in-memory work.
 */
public final class InMemorySessionStore implements SessionStore {

  private final Map<String, State> sessions = new ConcurrentHashMap<>();
  /** how far the links took each session's forwards, see {@link SessionStore#forwardsTaken} */
  private volatile java.util.function.ToLongFunction<String> forwardsTaken = sid -> 0;
  private final int maxOut;
  private final int maxOutBytes;
  private final int maxResponseBytes;
  private final long tombstoneMillis;
  private final LongSupplier clockMillis;
  private final int maxStreams;

  public InMemorySessionStore(int maxOut, int tombstoneSeconds) {
    this(maxOut, tombstoneSeconds, DEFAULT_MAX_STREAMS);
  }

  public InMemorySessionStore(int maxOut, int tombstoneSeconds, int maxStreams) {
    this(maxOut, tombstoneSeconds, maxStreams, System::currentTimeMillis);
  }

  /** @param maxStreams streams a session may have open at once (XEP-0124 §16) */
  public InMemorySessionStore(int maxOut, int tombstoneSeconds, int maxStreams, LongSupplier clockMillis) {
    this(maxOut, DEFAULT_MAX_QUEUED_BYTES, DEFAULT_MAX_RESPONSE_BYTES, tombstoneSeconds, maxStreams, clockMillis);
  }

  /**
   * @param maxOutBytes      bound on bytes of stanzas waiting for a session's client
   * @param maxResponseBytes bytes of stanzas one response carries at most (at least one stanza)
   */
  public InMemorySessionStore(int maxOut, int maxOutBytes, int maxResponseBytes, int tombstoneSeconds, int maxStreams,
      LongSupplier clockMillis) {
    this.maxOutBytes = maxOutBytes;
    this.maxResponseBytes = maxResponseBytes;
    this.maxOut = maxOut;
    this.tombstoneMillis = tombstoneSeconds * 1000L;
    this.maxStreams = maxStreams;
    this.clockMillis = clockMillis;
  }

  /**
   * A waiting server stanza of a stream, or (with {@code endAttributes}) the end of that stream:
   * then {@code xml} holds the terminate body's children.
   */
  private record Item(String stream, String xml, String endAttributes) {
  }

  private static final int MAX_CLOSED_STREAMS = 8;
  private static final java.util.regex.Pattern STREAM_ATTR = java.util.regex.Pattern.compile(" stream=\"([^\"]*)\"");

  /** A held request; {@code deadline}: when the store answers it empty by itself (0: never, it waits for release). */
  private record Held(long rid, String holder, long deadline) {
    Held(long rid, String holder) {
      this(rid, holder, 0);
    }

    /** As the held field of prelude.lua writes it. */
    String entry() {
      return rid + "=" + holder + (deadline > 0 ? "@" + deadline : "");
    }
  }

  /** The latest applied delivery token of one sender, and the requests that batch answered. */
  private record Token(String link, long seq, List<Held> answered) {
  }

  private static final java.util.regex.Pattern TOKEN = java.util.regex.Pattern.compile("([^\\s=]+):(\\d+)");

  private static final class Parked {
    String holder;
    final RequestFlags flags;
    final String payload;

    Parked(String holder, RequestFlags flags, String payload) {
      this.holder = holder;
      this.flags = flags;
      this.payload = payload;
    }
  }

  private static final class State {
    long hi;
    int hold;
    int requests;
    int wait;
    int inactivity;
    boolean ack;
    String content;
    boolean legacy;
    String owner;
    final List<Held> held = new ArrayList<>();
    final ArrayDeque<Long> cachedRids = new ArrayDeque<>();
    final Map<Long, String> responses = new HashMap<>();
    final Map<Long, Parked> parked = new HashMap<>();
    final List<Item> out = new ArrayList<>();
    /** bytes waiting in {@code out}, counted as the Redis list items are (see {@link #itemBytes}) */
    long outBytes;
    /** the first stream's name, "" when streams are off */
    String firstStream = "";
    final List<String> streams = new ArrayList<>();
    final ArrayDeque<String> closedStreams = new ArrayDeque<>();
    /** begun over HTTPS: every request must be encrypted */
    boolean encrypted;
    String tombstone;
    long expiresAt;
    long pause;
    long forwarded;
    String key = "";
    int polling;
    /** when the newest new request arrived */
    long lastArrival;
    /** whether that request was an empty poll and no answer since carried payloads */
    boolean lastEmpty;
    /** when each buffered response was sent */
    final Map<Long, Long> sentAt = new HashMap<>();
    /** rids of held requests whose client closed the connection: a resend waits again */
    final ArrayDeque<Long> abandoned = new ArrayDeque<>();
    /** the latest forwards, for an owner that lost the reply carrying them (as w:<seq> in prelude.lua) */
    final java.util.TreeMap<Long, Forward> kept = new java.util.TreeMap<>();
    /** the highest rid whose response the client has (sessions with acks) */
    long acked;
    /** per sender that delivered lately, least recent first: its latest token and the answers it gave (dt in deliver.lua) */
    final List<Token> tokens = new ArrayList<>();
    /** after the end: responses the client never acknowledged, oldest first, as (stream, body) */
    final List<String[]> unacked = new ArrayList<>();
  }

  /**
   * Removes expired sessions and tombstones; called from the pod's periodic sweep. What an expired
   * session still had for its client is kept for the tombstone period, for {@link #leftovers}.
   */
  public void purgeExpired() {
    long now = clockMillis.getAsLong();
    for (Iterator<State> it = sessions.values().iterator(); it.hasNext(); ) {
      State s = it.next();
      synchronized (s) {
        if (s.expiresAt + (s.tombstone == null ? tombstoneMillis : 0) <= now) {
          it.remove();
        } else if (s.expiresAt <= now && s.tombstone == null) {
          s.held.clear();
          s.abandoned.clear();
          s.parked.clear();
          s.responses.clear();
          s.sentAt.clear();
          s.cachedRids.clear();
        }
      }
    }
  }

  /**
   * The session's state in the shape of its Redis hash (field names and encodings of prelude.lua),
   * for the differential test that holds this store and the scripts equal: empty when the session
   * is unknown or expired. Absent Redis fields are left out; fields whose value is "" or "0" may be
   * present here and absent there (the scripts read both as their default).
   */
  java.util.SortedMap<String, String> snapshot(String sid) {
    java.util.SortedMap<String, String> m = new java.util.TreeMap<>();
    State s = live(sid);
    if (s == null) {
      return m;
    }
    synchronized (s) {
      if (s.tombstone != null) {
        m.put("term", s.tombstone);
        return m;
      }
      m.put("hi", Long.toString(s.hi));
      m.put("hold", Integer.toString(s.hold));
      m.put("req", Integer.toString(s.requests));
      m.put("wait", Integer.toString(s.wait));
      m.put("inact", Integer.toString(s.inactivity));
      m.put("ack", s.ack ? "1" : "0");
      m.put("ct", s.content);
      m.put("leg", s.legacy ? "1" : "0");
      m.put("own", s.owner);
      m.put("held", String.join(" ", s.held.stream().map(Held::entry).toList()));
      m.put("rc", String.join(" ", s.cachedRids.stream().map(r -> r + ":" + s.sentAt.get(r)).toList()));
      m.put("np", Integer.toString(s.parked.size()));
      m.put("pz", Long.toString(s.pause));
      m.put("fs", Long.toString(s.forwarded));
      m.put("k", s.key);
      m.put("pol", Integer.toString(s.polling));
      m.put("lt", Long.toString(s.lastArrival));
      m.put("le", s.lastEmpty ? "1" : "0");
      m.put("sf", s.firstStream);
      if (!(s.streams.size() == 1 && s.streams.get(0).equals(s.firstStream))) {
        m.put("st", String.join(" ", s.streams));
      }
      m.put("sc", String.join(" ", s.closedStreams));
      if (s.encrypted) {
        m.put("tls", "1");
      }
      m.put("ab", String.join(" ", s.abandoned.stream().map(String::valueOf).toList()));
      if (s.ack) {
        m.put("ak", Long.toString(s.acked));
      }
      m.put("ob", Long.toString(s.outBytes));
      if (!s.tokens.isEmpty()) {
        List<String> words = new ArrayList<>();
        for (Token t : s.tokens) {
          words.add(t.link() + ":" + t.seq());
          t.answered().forEach(h -> words.add(h.rid() + "=" + h.holder()));
        }
        m.put("dt", String.join(" ", words));
      }
      // stored without the <body/> start, as prelude.lua's packed() does
      s.responses.forEach((rid, body) -> m.put("r:" + rid,
          body.startsWith(BodyWriter.OPEN) ? "\0" + body.substring(BodyWriter.OPEN.length()) : body));
      s.parked.forEach((rid, p) -> m.put("a:" + rid, RequestFlagsCodec.parkedEntry(p.holder, p.flags, p.payload)));
      s.kept.forEach((seq, f) -> m.put("w:" + seq, RequestFlagsCodec.keptEntry(f)));
      return m;
    }
  }

  /** The session's outbound items as the Redis list holds them (prelude.lua), for the differential test. */
  List<String> outboundSnapshot(String sid) {
    State s = sessions.get(sid);
    List<String> items = new ArrayList<>();
    if (s == null) {
      return items;
    }
    synchronized (s) {
      for (String[] r : s.unacked) {
        items.add("\u0003" + (r[0] == null ? "" : r[0]) + "\u0003" + r[1]);
      }
      for (Item i : s.out) {
        if (i.endAttributes() != null) {
          items.add("\u0002" + i.stream() + "\u0002" + i.endAttributes() + "\u0002" + i.xml());
        } else {
          items.add(i.stream().equals(s.firstStream) ? i.xml() : "\u0001" + i.stream() + "\u0001" + i.xml());
        }
      }
      return items;
    }
  }

  /**
   * Milliseconds left before the session's hash and its outbound list expire, as Redis' PTTL of
   * those keys would say (-2: no such key), for the differential test.
   */
  long[] ttlSnapshot(String sid) {
    State s = sessions.get(sid);
    long now = clockMillis.getAsLong();
    if (s == null) {
      return new long[] {-2, -2};
    }
    synchronized (s) {
      long hash = s.expiresAt > now ? s.expiresAt - now : -2;
      long outEnd = s.tombstone != null ? s.expiresAt : s.expiresAt + tombstoneMillis;
      boolean anyOut = !s.out.isEmpty() || !s.unacked.isEmpty();
      return new long[] {hash, anyOut && outEnd > now ? outEnd - now : -2};
    }
  }

  /** Sessions and tombstones currently held in memory. */
  public int size() {
    return sessions.size();
  }

  @Override
  public void forwardsTaken(java.util.function.ToLongFunction<String> taken) {
    this.forwardsTaken = taken;
  }

  private State live(String sid) {
    State s = sessions.get(sid);
    return s != null && s.expiresAt <= clockMillis.getAsLong() ? null : s;
  }

  @Override
  public Future<Void> create(SessionRecord r) {
    State s = new State();
    SessionParams p = r.params();
    s.hi = r.rid();
    s.hold = p.hold();
    s.requests = p.requests();
    s.wait = p.waitSeconds();
    s.inactivity = p.inactivity();
    s.ack = p.ack();
    s.content = p.content();
    s.legacy = p.legacy();
    s.owner = r.owner();
    s.polling = p.polling();
    s.lastArrival = clockMillis.getAsLong();
    // as create.lua: the creation response is not cached (only a client that has it knows the sid)
    s.expiresAt = clockMillis.getAsLong() + p.inactivity() * 1000L;
    s.key = r.newKey() == null ? "" : r.newKey();
    s.encrypted = r.encrypted();
    if (r.stream() != null) {
      s.firstStream = r.stream();
      s.streams.add(r.stream());
    }
    long now = s.lastArrival;
    // as create.lua: a sid is not taken again while anything of it remains (what an expired session
    // still had for its client waits for leftovers), and is free once nothing does, purged or not
    if (sessions.compute(r.sid(), (sid, old) -> old != null && remains(old, now) ? old : s) != s) {
      return Future.failedFuture(new IllegalStateException("sid collision"));
    }
    return Future.succeededFuture();
  }

  /** Whether any of a session's keys would still exist in Redis: its hash, or its outbound list. */
  private boolean remains(State s, long now) {
    synchronized (s) {
      return s.expiresAt > now || s.tombstone == null && !s.out.isEmpty() && s.expiresAt + tombstoneMillis > now;
    }
  }

  @Override
  public Future<Accepted> accept(String sid, long rid, String holder, RequestFlags flags, String payload) {
    State s = live(sid);
    if (s == null) {
      return Future.failedFuture(itemNotFound());
    }
    synchronized (s) {
      try {
        return Future.succeededFuture(accept(sid, s, rid, holder, flags, payload));
      } catch (BoshException e) {
        return Future.failedFuture(e);
      }
    }
  }

  private Accepted accept(String sid, State s, long rid, String holder, RequestFlags flags, String payload) {
    if (rid == NEXT_RID) {
      rid = s.hi + 1; // as accept.lua: a poll (XEP-0025) is the session's next request
    }
    if (s.tombstone != null) {
      return new Accepted(Accepted.Outcome.ENDED, null, false, null, 0, false, s.tombstone, List.of(), List.of());
    }
    expire(s);
    // XEP-0124 §19.1, as accept.lua checks it
    if (s.encrypted && flags.unencrypted()) {
      return Accepted.DROPPED;
    }
    String cached = s.responses.get(rid);
    if (cached != null) {
      return accepted(s, Accepted.Outcome.RESENT, cached, List.of(), List.of());
    }
    if (rid <= s.hi) {
      for (int i = 0; i < s.held.size(); i++) {
        Held h = s.held.get(i);
        if (h.rid() == rid) {
          long deadline = deadline(s);
          s.held.set(i, new Held(rid, holder, deadline));
          save(s);
          return accepted(s, Accepted.Outcome.TAKEOVER, deadline > 0, null, List.of(),
              List.of(new Answer(0, h.holder(), BodyWriter.recoverableError())));
        }
      }
      if (s.abandoned.remove(rid)) {
        // XEP-0124 §14.3, as accept.lua does it: its payloads went to the server the first time
        int at = 0;
        while (at < s.held.size() && s.held.get(at).rid() < rid) {
          at++;
        }
        long deadline = deadline(s);
        s.held.add(at, new Held(rid, holder, deadline));
        List<Answer> answers = new ArrayList<>();
        flush(s, answers);
        save(s);
        return accepted(s, Accepted.Outcome.PROCESSED, deadline > 0, null, List.of(), answers);
      }
      throw refused(s, TerminateCondition.ITEM_NOT_FOUND);
    }
    // XEP-0124 §11: a pause or terminate request may be one beyond `requests`
    int window = s.requests + (flags.widensWindow() ? 1 : 0);
    // parked requests answered before their turn are not outstanding (answered_ahead in prelude.lua)
    int ahead = (int) s.parked.values().stream().filter(p -> "-".equals(p.holder)).count();
    if (rid > s.hi + window + ahead) {
      throw refused(s, TerminateCondition.ITEM_NOT_FOUND);
    }
    // XEP-0124 §16.4: a named stream must be open, or have just closed
    String named = s.firstStream.isEmpty() ? null : flags.stream();
    if (named != null && !flags.open() && !s.streams.contains(named) && !s.closedStreams.contains(named)) {
      throw refused(s, TerminateCondition.ITEM_NOT_FOUND);
    }
    Parked resent = rid > s.hi + 1 ? s.parked.get(rid) : null;
    if (resent != null) {
      String old = resent.holder;
      resent.holder = holder;
      save(s);
      return accepted(s, Accepted.Outcome.TAKEOVER, null, List.of(), List.of(new Answer(0, old, BodyWriter.recoverableError())));
    }
    // XEP-0124 §11: more new requests outstanding than `requests`, none of them answered
    if (s.held.size() + s.parked.size() - ahead + 1 > window) {
      throw refused(s, TerminateCondition.POLICY_VIOLATION);
    }
    long now = clockMillis.getAsLong();
    if (rid > s.hi + 1) {
      s.parked.put(rid, new Parked(holder, flags, payload));
      s.lastArrival = now;
      save(s);
      return accepted(s, Accepted.Outcome.PARKED, null, List.of(), List.of());
    }
    // XEP-0124 §11, §12, as accept.lua checks them
    boolean empty = flags.emptyWith(payload);
    if (empty && s.parked.isEmpty() && s.polling > 0 && now - s.lastArrival < s.polling * 1000L) {
      boolean pollingSession = s.hold == 0 || s.wait == 0;
      if (pollingSession ? s.lastEmpty : s.held.size() + 1 == s.requests) {
        throw refused(s, TerminateCondition.POLICY_VIOLATION);
      }
    }
    Undo undo = new Undo(s);
    if (!keyOk(s, flags)) {
      throw refused(s, TerminateCondition.ITEM_NOT_FOUND);
    }
    // XEP-0124 §9.2: report the first missing response, as accept.lua does
    String report = null;
    Long ackPart = s.ack ? flags.ack() : null;
    if (ackPart != null) {
      long clientAck = ackPart;
      Long last = s.cachedRids.peekLast();
      Long sent = s.sentAt.get(clientAck + 1);
      if (last != null && clientAck < last && sent != null && now - sent >= REPORT_GRACE_MS) {
        report = " report=\"" + (clientAck + 1) + "\" time=\"" + Math.min(now - sent, 65535) + "\"";
      }
    }
    if (s.ack) {
      // XEP-0124 §9.1, as accept.lua: a request without ack says every earlier response arrived
      s.acked = Math.max(s.acked, ackPart != null ? ackPart : rid - 1);
    }
    s.lastArrival = now;
    s.lastEmpty = empty;
    List<Forward> forwards = new ArrayList<>();
    Map<Long, String> now_ = new HashMap<>();
    boolean ending = forward(s, forwards, now_, rid, flags, payload);
    long deadline = deadline(s);
    s.held.add(new Held(rid, holder, deadline));
    s.hi = rid;
    long pause = flags.pause();
    Map<Long, Parked> taken = new HashMap<>();
    while (!ending) {
      Parked p = s.parked.remove(s.hi + 1);
      if (p == null) {
        break;
      }
      taken.put(s.hi + 1, p);
      if (!keyOk(s, p.flags)) {
        // the session ends over it, as if this request had never come (as accept.lua does it)
        undo.apply(s, taken);
        throw refused(s, TerminateCondition.ITEM_NOT_FOUND);
      }
      s.hi++;
      ending = forward(s, forwards, now_, s.hi, p.flags, p.payload);
      if (!"-".equals(p.holder)) {
        s.held.add(new Held(s.hi, p.holder));
      }
      pause = p.flags.pause();
    }
    if (ackPart != null) {
      // only now that nothing can refuse the request, as accept.lua does it
      long clientAck = ackPart;
      while (s.cachedRids.size() > 1 && s.cachedRids.peekFirst() <= clientAck) {
        uncache(s, s.cachedRids.removeFirst());
      }
    }
    // what the owner already took cannot be missing there (as accept.lua does it)
    long takenByOwner = forwardsTaken.applyAsLong(sid);
    if (takenByOwner > 0 && Math.min(takenByOwner, s.forwarded) >= Math.max(1, takenByOwner - KEPT_FORWARDS + 1)) {
      s.kept.subMap(Math.max(1, takenByOwner - KEPT_FORWARDS + 1), true, Math.min(takenByOwner, s.forwarded), true).clear();
    }
    for (Forward f : forwards) {
      s.kept.put(f.seq(), f);
      s.kept.remove(f.seq() - KEPT_FORWARDS);
    }
    List<Answer> answers = new ArrayList<>();
    if (ending) {
      // XEP-0124 §13: the oldest open request gets type='terminate', the others empty bodies
      String open = BodyWriter.OPEN + " type=\"terminate\"";
      answers.addAll(finalAnswers(s, closeBody(open, takeFinal(s)), closeBody(BodyWriter.OPEN, "")));
      entomb(sid, s, closeBody(open, ""));
      return accepted(s, Accepted.Outcome.PROCESSED, deadline > 0, null, forwards, answers);
    }
    for (int i = s.held.size() - 1; i >= 0; i--) {
      String attrs = now_.get(s.held.get(i).rid());
      if (attrs != null) {
        answerAt(s, i, "", attrs, answers);
      }
    }
    if (report != null) {
      // everything up to this request is answered now, waiting stanzas with the oldest
      String[] data = take(s);
      while (!s.held.isEmpty() && s.held.get(0).rid() <= rid) {
        answerAt(s, 0, data[0], s.held.get(0).rid() == rid ? data[1] + report : data[1], answers);
        data = new String[] {"", ""};
      }
    }
    if (pause > 0) {
      // XEP-0124 §10: held requests answered at once, waiting stanzas kept for the return
      while (!s.held.isEmpty()) {
        answerAt(s, 0, "", answers);
      }
    }
    s.pause = pause;
    flush(s, answers);
    save(s);
    return accepted(s, Accepted.Outcome.PROCESSED, deadline > 0, null, forwards, answers);
  }

  /** What processing a request in order changes before its last check, put back when that check refuses it. */
  private static final class Undo {
    final long hi;
    final String key;
    final long forwarded;
    final int held;
    final long lastArrival;
    final boolean lastEmpty;
    final long acked;
    final List<String> streams;
    final List<String> closedStreams;

    Undo(State s) {
      hi = s.hi;
      key = s.key;
      forwarded = s.forwarded;
      held = s.held.size();
      lastArrival = s.lastArrival;
      lastEmpty = s.lastEmpty;
      acked = s.acked;
      streams = List.copyOf(s.streams);
      closedStreams = List.copyOf(s.closedStreams);
    }

    void apply(State s, Map<Long, Parked> taken) {
      s.hi = hi;
      s.key = key;
      s.forwarded = forwarded;
      s.held.subList(held, s.held.size()).clear();
      s.lastArrival = lastArrival;
      s.lastEmpty = lastEmpty;
      s.acked = acked;
      s.streams.clear();
      s.streams.addAll(streams);
      s.closedStreams.clear();
      s.closedStreams.addAll(closedStreams);
      s.parked.putAll(taken);
    }
  }

  /**
   * Numbers what a processed request carries for the server, as accept.lua does; requests that
   * open or close one stream get their answer's attributes in {@code now}.
   *
   * @return whether the request ends the session
   */
  private boolean forward(State s, List<Forward> forwards, Map<Long, String> now, long rid, RequestFlags flags, String payload) {
    String stream = s.firstStream.isEmpty() ? null : flags.stream();
    if (flags.open()) {
      if (stream == null || s.streams.contains(stream) || s.closedStreams.contains(stream)) {
        return false; // no stream name to give: a plain poll
      }
      if (s.streams.size() >= maxStreams) {
        now.put(rid, " type=\"terminate\" condition=\"policy-violation\" stream=\"" + stream + "\"");
        return false;
      }
      s.streams.add(stream);
      int nl = payload.indexOf('\n');
      now.put(rid, " stream=\"" + stream + "\"" + (nl < 0 ? payload : payload.substring(0, nl)));
      forwards.add(new Forward(++s.forwarded, payload, false, false, true, stream));
      return false;
    }
    boolean ends = flags.terminate();
    if (ends && stream != null && !(s.streams.contains(stream) && s.streams.size() == 1)) {
      // one stream closes; the session goes on with the others
      if (s.streams.contains(stream)) {
        closeStream(s, stream);
      }
      now.put(rid, " type=\"terminate\" stream=\"" + stream + "\"");
      ends = false;
    }
    if (flags.carries(payload)) {
      forwards.add(new Forward(++s.forwarded, payload, flags.restart(), flags.terminate(), false, stream, flags.fragment()));
    }
    return ends;
  }

  private static void closeStream(State s, String stream) {
    s.streams.remove(stream);
    s.closedStreams.add(stream);
    if (s.closedStreams.size() > MAX_CLOSED_STREAMS) {
      s.closedStreams.removeFirst();
    }
  }

  /** XEP-0124 §15, as accept.lua checks it. */
  private static boolean keyOk(State s, RequestFlags flags) {
    String k = flags.key();
    String n = flags.newKey();
    if (!s.key.isEmpty()) {
      if (k == null || !sha1Hex(k).equals(s.key.toLowerCase(java.util.Locale.ROOT))) {
        return false;
      }
      s.key = n != null ? n : k;
    } else if (n != null) {
      s.key = n;
    }
    return true;
  }

  private static String sha1Hex(String s) {
    try {
      return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-1")
          .digest(s.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public Future<Delivery> deliver(String sid, String stream, String token, List<String> stanzas) {
    State s = live(sid);
    if (s == null) {
      return Future.succeededFuture(Delivery.GONE);
    }
    synchronized (s) {
      if (s.tombstone != null) {
        return Future.succeededFuture(Delivery.GONE);
      }
      expire(s);
      // as deliver.lua: a token seen before applies nothing and gives its answers again, unpublished
      java.util.regex.Matcher tm = token == null ? null : TOKEN.matcher(token);
      String link = tm != null && tm.matches() ? tm.group(1) : null;
      long seq = link == null ? 0 : Long.parseLong(tm.group(2));
      if (link != null) {
        for (Iterator<Token> it = s.tokens.iterator(); it.hasNext(); ) {
          Token t = it.next();
          if (t.link().equals(link)) {
            if (t.seq() >= seq) {
              List<Answer> again = new ArrayList<>();
              for (Held h : t.seq() == seq ? t.answered() : List.<Held>of()) {
                String body = s.responses.get(h.rid());
                if (body != null) {
                  again.add(new Answer(h.rid(), h.holder(), body));
                }
              }
              return Future.succeededFuture(new Delivery(Delivery.Status.OK, again));
            }
            break;
          }
        }
      }
      String tag = stream == null ? s.firstStream : stream;
      long bytes = 0;
      for (String stanza : stanzas) {
        bytes += itemBytes(s, new Item(tag, stanza, null));
      }
      // as deliver.lua: bounded in stanzas and bytes; a batch meeting an empty queue always goes in
      if (!s.out.isEmpty() && (s.out.size() + stanzas.size() > maxOut || s.outBytes + bytes > maxOutBytes)) {
        return Future.succeededFuture(Delivery.FULL);
      }
      if (s.out.isEmpty()) {
        s.outBytes = 0;
      }
      for (String stanza : stanzas) {
        s.out.add(new Item(tag, stanza, null));
      }
      s.outBytes += bytes;
      List<Answer> answers = new ArrayList<>();
      flush(s, answers);
      if (link != null) {
        s.tokens.removeIf(t -> t.link().equals(link));
        s.tokens.add(new Token(link, seq, answers.stream().map(a -> new Held(a.rid(), a.holder())).toList()));
        while (s.tokens.size() > 2 * maxStreams) {
          s.tokens.remove(0);
        }
      }
      if (!answers.isEmpty()) {
        save(s);
      }
      return Future.succeededFuture(new Delivery(Delivery.Status.OK, answers));
    }
  }

  @Override
  public Future<String> release(String sid, long rid, String holder, boolean inOrder) {
    State s = live(sid);
    if (s == null) {
      return Future.failedFuture(itemNotFound());
    }
    synchronized (s) {
      if (s.tombstone != null) {
        return Future.succeededFuture(s.tombstone);
      }
      // as release.lua: a request its deadline answered in this very call gets that answer
      Answer expired = expire(s).get(rid);
      if (expired != null && expired.holder().equals(holder)) {
        return Future.succeededFuture(expired.body());
      }
      for (int i = 0; i < s.held.size(); i++) {
        Held h = s.held.get(i);
        if (h.rid() == rid && h.holder().equals(holder)) {
          if (inOrder && i > 0) {
            return Future.succeededFuture(NOT_ITS_TURN);
          }
          String[] run = take(s);
          String body = answerAt(s, i, run[0], run[1], new ArrayList<>());
          flush(s, new ArrayList<>());
          save(s);
          return Future.succeededFuture(body);
        }
      }
      Parked p = s.parked.get(rid);
      if (p != null && p.holder.equals(holder)) {
        if (inOrder) {
          return Future.succeededFuture(NOT_ITS_TURN);
        }
        p.holder = "-";
        String body = render(s, rid, "", "");
        cache(s, rid, body);
        save(s);
        return Future.succeededFuture(body);
      }
      return Future.succeededFuture(null);
    }
  }

  @Override
  public Future<String> answered(String sid, long rid, String holder) {
    State s = live(sid);
    if (s == null) {
      return Future.succeededFuture(null);
    }
    synchronized (s) {
      // as answered.lua
      if (s.tombstone != null) {
        return Future.succeededFuture(s.tombstone);
      }
      // reads only: requests past their deadline are taken out of a copy, as answered.lua works them out
      State r = readingCopy(s);
      expire(r);
      for (Held h : r.held) {
        if (h.rid() == rid) {
          return Future.succeededFuture(h.holder().equals(holder) ? null : BodyWriter.recoverableError());
        }
      }
      Parked p = r.parked.get(rid);
      if (p != null && p.holder.equals(holder)) {
        return Future.succeededFuture(null);
      }
      String cached = r.responses.get(rid);
      if (cached != null) {
        return Future.succeededFuture(cached);
      }
      return Future.succeededFuture(p != null ? BodyWriter.recoverableError() : null);
    }
  }

  @Override
  public Future<Boolean> abandon(String sid, long rid, String holder) {
    State s = live(sid);
    if (s == null) {
      return Future.succeededFuture(false);
    }
    synchronized (s) {
      if (s.tombstone != null) {
        return Future.succeededFuture(false);
      }
      expire(s);
      for (int i = 0; i < s.held.size(); i++) {
        Held h = s.held.get(i);
        if (h.rid() == rid && h.holder().equals(holder)) {
          // as abandon.lua: the last `requests` abandoned rids stay resendable
          s.held.remove(i);
          s.abandoned.add(rid);
          if (s.abandoned.size() > s.requests) {
            s.abandoned.removeFirst();
          }
          save(s);
          return Future.succeededFuture(true);
        }
      }
      Parked p = s.parked.get(rid);
      if (p != null && p.holder.equals(holder)) {
        p.holder = "-";
        cache(s, rid, render(s, rid, "", ""));
        save(s);
        return Future.succeededFuture(true);
      }
      return Future.succeededFuture(false);
    }
  }

  @Override
  public Future<Terminated> terminate(String sid, String terminateOpen, String children) {
    return terminate(sid, terminateOpen, children, false, null);
  }

  @Override
  public Future<Terminated> refuse(String sid, String terminateOpen, boolean encrypted) {
    State s = live(sid);
    if (s != null && !encrypted) {
      synchronized (s) {
        if (s.encrypted && s.tombstone == null) {
          expire(s); // as terminate.lua, which loads the session first
          return Future.succeededFuture(Terminated.DROPPED);
        }
      }
    }
    return terminate(sid, terminateOpen, "");
  }

  @Override
  public Future<Terminated> endStream(String sid, String stream, String terminateOpen, String children) {
    return terminate(sid, terminateOpen, children, true, stream);
  }

  private Future<Terminated> terminate(String sid, String terminateOpen, String children, boolean scoped, String stream) {
    State s = live(sid);
    if (s == null) {
      return Future.succeededFuture(Terminated.UNKNOWN);
    }
    synchronized (s) {
      if (s.tombstone != null) {
        return Future.succeededFuture(new Terminated(List.of(), s.tombstone, false, false));
      }
      expire(s);
      if (scoped && !s.firstStream.isEmpty()) {
        // XEP-0124 §16.6, as terminate.lua does it
        String name = stream == null ? s.firstStream : stream;
        if (!s.streams.contains(name)) {
          return Future.succeededFuture(new Terminated(List.of(), null, false, s.legacy));
        }
        if (s.streams.size() > 1) {
          closeStream(s, name);
          Item end = new Item(name, children, terminateOpen.substring(BodyWriter.OPEN.length()));
          s.out.add(end);
          s.outBytes += itemBytes(s, end);
          List<Answer> answers = new ArrayList<>();
          flush(s, answers);
          save(s);
          return Future.succeededFuture(new Terminated(answers, null, false, s.legacy));
        }
      }
      String first = closeBody(terminateOpen, takeFinal(s) + children);
      String rest = closeBody(terminateOpen, children);
      List<Answer> answers = finalAnswers(s, first, rest);
      String tombstone = answers.isEmpty() ? first : rest;
      entomb(sid, s, tombstone);
      return Future.succeededFuture(new Terminated(answers, tombstone, true, s.legacy));
    }
  }

  @Override
  public Future<List<Queued>> leftovers(String sid) {
    State s = sessions.get(sid);
    if (s == null) {
      return Future.succeededFuture(List.of());
    }
    synchronized (s) {
      if (s.tombstone == null && s.expiresAt > clockMillis.getAsLong()) {
        return Future.succeededFuture(List.of());
      }
      List<Queued> out = new ArrayList<>();
      for (String[] r : s.unacked) {
        out.addAll(ResponseStanzas.of(r[0], r[1]));
      }
      s.unacked.clear();
      for (Item i : s.out) {
        if (i.endAttributes() == null) {
          out.add(new Queued(i.stream().equals(s.firstStream) ? null : i.stream(), i.xml()));
        }
      }
      s.out.clear();
      return Future.succeededFuture(out);
    }
  }

  @Override
  public Future<List<Forward>> forwardsFrom(String sid, long from) {
    State s = live(sid);
    if (s == null) {
      return Future.succeededFuture(List.of());
    }
    synchronized (s) {
      if (s.tombstone != null) {
        return Future.succeededFuture(List.of());
      }
      return Future.succeededFuture(List.copyOf(s.kept.tailMap(Math.max(from, s.forwarded - KEPT_FORWARDS + 1), true).values()));
    }
  }

  /** One pod owns every session: payloads never wait for another owner. */
  @Override
  public Future<List<Forward>> drain(String sid) {
    return Future.succeededFuture(List.of());
  }

  @Override
  public Future<States> states(Collection<String> sids) {
    Set<String> live = new HashSet<>();
    Set<String> ended = new HashSet<>();
    for (String sid : sids) {
      State s = live(sid);
      if (s != null) {
        synchronized (s) {
          (s.tombstone == null ? live : ended).add(sid);
        }
      }
    }
    return Future.succeededFuture(new States(live, ended));
  }

  @Override
  public Future<Lifetimes> lifetimes(Collection<String> sids) {
    Map<String, Long> live = new HashMap<>();
    Set<String> ended = new HashSet<>();
    long now = clockMillis.getAsLong();
    for (String sid : sids) {
      State s = live(sid);
      if (s != null) {
        synchronized (s) {
          if (s.tombstone == null) {
            live.put(sid, Math.max(0, s.expiresAt - now));
          } else {
            ended.add(sid);
          }
        }
      }
    }
    return Future.succeededFuture(new Lifetimes(live, ended));
  }

  @Override
  public Future<Void> deleteWarmup(Collection<String> sids) {
    try {
      SessionStore.requireWarmup(sids);
    } catch (IllegalArgumentException e) {
      return Future.failedFuture(e);
    }
    sids.forEach(sessions::remove);
    return Future.succeededFuture();
  }

  @Override
  public Future<Void> close() {
    sessions.clear();
    return Future.succeededFuture();
  }

  private static Accepted accepted(State s, Accepted.Outcome outcome, String immediate, List<Forward> forwards, List<Answer> answers) {
    return accepted(s, outcome, false, immediate, forwards, answers);
  }

  private static Accepted accepted(State s, Accepted.Outcome outcome, boolean deadline, String immediate, List<Forward> forwards,
      List<Answer> answers) {
    return new Accepted(outcome, s.content, s.legacy, s.owner, s.wait, deadline, immediate, forwards, answers);
  }

  private static BoshException itemNotFound() {
    return new BoshException(TerminateCondition.ITEM_NOT_FOUND, "unknown session");
  }

  private static BoshException refused(State s, TerminateCondition condition) {
    return new BoshException(condition, "refused by the session's rules").forLegacy(s.legacy);
  }

  private static String closeBody(String open, String payload) {
    return payload.isEmpty() ? open + "/>" : open + ">" + payload + BodyWriter.CLOSE;
  }

  private static String render(State s, long rid, String payload, String extra) {
    String open = s.ack && s.hi != rid ? BodyWriter.OPEN + " ack=\"" + s.hi + "\"" : BodyWriter.OPEN;
    return closeBody(open + extra, payload);
  }

  /**
   * The next run of waiting stanzas of one stream, up to and including its end, as take() in
   * prelude.lua: the payload and the attributes the body needs.
   */
  private String[] take(State s) {
    if (s.out.isEmpty()) {
      return new String[] {"", ""};
    }
    String stream = s.out.get(0).stream();
    StringBuilder run = new StringBuilder();
    String extra = "";
    boolean ended = false;
    int n = 0;
    long size = 0;
    for (Item i : s.out) {
      long xmlBytes = utf8Length(i.xml());
      if (!i.stream().equals(stream) || n > 0 && size + xmlBytes > maxResponseBytes) {
        // one stream per body; at most maxResponseBytes of stanzas, always at least one
        break;
      }
      n++;
      size += xmlBytes;
      s.outBytes = Math.max(0, s.outBytes - itemBytes(s, i));
      run.append(i.xml());
      if (i.endAttributes() != null) {
        extra = i.endAttributes();
        ended = true;
        break;
      }
    }
    s.out.subList(0, n).clear();
    if (ended || !stream.equals(s.firstStream) || s.streams.size() > 1) {
      extra += " stream=\"" + stream + "\"";
    }
    return new String[] {run.toString(), extra};
  }

  /** The first stream's run, for a session's final terminate body (take_final in prelude.lua). */
  private String takeFinal(State s) {
    if (s.out.isEmpty() || !s.out.get(0).stream().equals(s.firstStream) || s.out.get(0).endAttributes() != null) {
      return "";
    }
    return take(s)[0];
  }

  /** The bytes of an item as the Redis list holds it (prelude.lua): tags of another stream or an end included. */
  private static long itemBytes(State s, Item i) {
    long xml = utf8Length(i.xml());
    if (i.endAttributes() != null) {
      return xml + 3 + utf8Length(i.stream()) + utf8Length(i.endAttributes());
    }
    return i.stream().equals(s.firstStream) ? xml : xml + 2 + utf8Length(i.stream());
  }

  private static long utf8Length(String s) {
    long n = 0;
    for (int k = 0; k < s.length(); k++) {
      char c = s.charAt(k);
      if (c < 0x80) {
        n++;
      } else if (c < 0x800) {
        n += 2;
      } else if (Character.isHighSurrogate(c)) {
        n += 4;
        k++;
      } else {
        n += 3;
      }
    }
    return n;
  }

  private void cache(State s, long rid, String body) {
    cache(s, rid, body, clockMillis.getAsLong());
  }

  /** @param at when the response was sent */
  private static void cache(State s, long rid, String body, long at) {
    s.responses.put(rid, body);
    s.sentAt.put(rid, at);
    s.cachedRids.add(rid);
    // as cache() in prelude.lua: beyond `keep`, a response its client may still resend stays
    int keep = s.ack ? 2 * s.requests : s.requests;
    long young = at - (s.wait * 1000L + RESEND_MARGIN_MS);
    while (s.cachedRids.size() > keep
        && (s.cachedRids.size() > SessionStore.cachedResponsesAtMost(s.requests) || s.sentAt.get(s.cachedRids.peekFirst()) <= young)) {
      uncache(s, s.cachedRids.removeFirst());
    }
  }

  /**
   * As expire() in prelude.lua: held requests past their deadline are answered empty at their
   * deadline, in deadline order, as release would have answered them then; not given to anyone (their
   * holders answer them by themselves). The session's time to live stays as it was.
   *
   * @return the answers by rid
   */
  private Map<Long, Answer> expire(State s) {
    long now = clockMillis.getAsLong();
    List<Held> due = new ArrayList<>();
    for (Held h : s.held) {
      if (h.deadline() > 0 && h.deadline() <= now) {
        due.add(h);
      }
    }
    if (due.isEmpty()) {
      return Map.of();
    }
    due.sort(Comparator.comparingLong(Held::deadline).thenComparingLong(Held::rid));
    Map<Long, Answer> answered = new HashMap<>();
    for (Held h : due) {
      s.held.remove(h);
      String body = render(s, h.rid(), "", "");
      cache(s, h.rid(), body, h.deadline());
      answered.put(h.rid(), new Answer(h.rid(), h.holder(), body));
    }
    return answered;
  }

  /** The deadline of a request held from now on, 0 for none (as deadline() in prelude.lua). */
  private long deadline(State s) {
    return SessionStore.deadlines(s.wait, s.ack) ? clockMillis.getAsLong() + s.wait * 1000L - EXPIRY_MARGIN_MS : 0;
  }

  /** What an operation that only reads may change: held requests and the response buffer, copied. */
  private static State readingCopy(State s) {
    State c = new State();
    c.hi = s.hi;
    c.hold = s.hold;
    c.requests = s.requests;
    c.wait = s.wait;
    c.ack = s.ack;
    c.held.addAll(s.held);
    c.cachedRids.addAll(s.cachedRids);
    c.responses.putAll(s.responses);
    c.sentAt.putAll(s.sentAt);
    c.parked.putAll(s.parked);
    return c;
  }

  private static void uncache(State s, long rid) {
    s.responses.remove(rid);
    s.sentAt.remove(rid);
  }

  private String answerAt(State s, int i, String payload, List<Answer> answers) {
    return answerAt(s, i, payload, "", answers);
  }

  private String answerAt(State s, int i, String payload, String extra, List<Answer> answers) {
    Held h = s.held.remove(i);
    if (!payload.isEmpty()) {
      s.lastEmpty = false;
    }
    String body = render(s, h.rid(), payload, extra);
    cache(s, h.rid(), body);
    answers.add(new Answer(h.rid(), h.holder(), body));
    return body;
  }

  private void flush(State s, List<Answer> answers) {
    while (!s.held.isEmpty() && !s.out.isEmpty()) {
      String[] run = take(s);
      answerAt(s, 0, run[0], run[1], answers);
    }
    while (s.held.size() > s.hold) {
      answerAt(s, 0, "", answers);
    }
  }

  private void save(State s) {
    long ms;
    if (!s.held.isEmpty() || !s.parked.isEmpty()) {
      ms = (s.wait + s.inactivity + 10) * 1000L;
    } else if (s.pause > 0) {
      ms = s.pause * 1000L;
    } else {
      ms = s.inactivity * 1000L;
    }
    s.expiresAt = clockMillis.getAsLong() + ms;
  }

  /** Every held and parked request of an ending session, oldest first: the oldest gets {@code first}. */
  private static List<Answer> finalAnswers(State s, String first, String rest) {
    List<Held> all = new ArrayList<>(s.held);
    s.parked.forEach((rid, p) -> {
      if (!"-".equals(p.holder)) {
        all.add(new Held(rid, p.holder));
      }
    });
    all.sort(Comparator.comparingLong(Held::rid));
    List<Answer> answers = new ArrayList<>(all.size());
    for (int i = 0; i < all.size(); i++) {
      answers.add(new Answer(all.get(i).rid(), all.get(i).holder(), i == 0 ? first : rest));
    }
    return answers;
  }

  private void entomb(String sid, State s, String body) {
    s.kept.clear();
    if (s.ack) {
      // as entomb() in prelude.lua: what unacknowledged responses carried, for the owner to bounce
      for (long rid : s.cachedRids) {
        String b = s.responses.get(rid);
        if (rid > s.acked && b != null && b.endsWith(BodyWriter.CLOSE)) {
          java.util.regex.Matcher m = STREAM_ATTR.matcher(b.substring(0, b.indexOf('>')));
          String stream = m.find() && !m.group(1).equals(s.firstStream) ? m.group(1) : null;
          s.unacked.add(new String[] {stream, b});
        }
      }
    }
    s.held.clear();
    s.abandoned.clear();
    s.parked.clear();
    s.responses.clear();
    s.sentAt.clear();
    s.cachedRids.clear();
    s.tombstone = body;
    s.expiresAt = clockMillis.getAsLong() + tombstoneMillis;
  }
}
