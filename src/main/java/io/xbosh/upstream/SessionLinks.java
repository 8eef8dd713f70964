package io.xbosh.upstream;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.xbosh.protocol.BoshException;
import io.xbosh.protocol.ScriptContent;
import io.xbosh.protocol.SessionParams;
import io.xbosh.protocol.TerminateCondition;
import io.xbosh.session.Forward;
import io.xbosh.session.SessionStore.Delivery;
import io.xbosh.session.SessionStore.Queued;
import io.xbosh.session.StreamRequest;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The upstream links of one session on its owner pod: the first stream's, and one for every further
 * stream the client opened (XEP-0124 §16). All of them live on the event loop of the first link.
 *
 * <p>Client forwards are numbered per session (see {@link Forward}): a small reorder buffer puts
 * them back in order, then each goes to the stream it names, or to every open stream when it names
 * none. A stream being opened gets the forwards naming it once it is open.
 *
 * <p>Backpressure toward the server (a server that reads slower than its client sends): while a
 * link's socket has a full write queue, forwards in order wait here (at most
 * {@link #MAX_BLOCKED_FORWARDS} and {@link #MAX_BLOCKED_CHARS}; beyond that the session ends with
 * {@code remote-connection-failed}), the session is {@link #congested()} so the owner refuses new
 * payloads with a recoverable error and leaves those of other pods in the store; all of it goes on
 * once the socket drains.
 */
public final class SessionLinks implements LinkSink {

  private static final Logger log = LoggerFactory.getLogger(SessionLinks.class);
  private static final int MAX_EARLY_FORWARDS = 64;
  private static final int MAX_WAITING_FORWARDS = 64;
  static final int MAX_BLOCKED_FORWARDS = 64;
  static final int MAX_BLOCKED_CHARS = 4 * 1024 * 1024;

  /** What a session's links report to the pod. */
  public interface Owner {

    Future<Delivery> deliver(String sid, String stream, String token, List<String> stanzas);

    /** A stream ended from the server side, or could not be opened. */
    Future<Void> ended(String sid, String stream, TerminateCondition condition, String children);

    /** The forwards cannot be put in order: the session has to end. */
    void failed(String sid, TerminateCondition condition);

    /** Every link of the session is closed. */
    void closed(SessionLinks links);

    /**
     * The forwards from number {@code from} on, as the store still keeps them: for a gap that has
     * waited too long (the reply that carried them was lost).
     */
    default Future<List<Forward>> missing(String sid, long from) {
      return Future.succeededFuture(List.of());
    }
  }

  /** a JID is three parts of at most 1023 bytes each (RFC 7622 §3.1) */
  private static final int MAX_JID_CHARS = 3071;
  /**
   * bound JIDs by stream, see {@link #jids()}; replaced whole on the links' event loop (once per
   * stream), read by the admin API: an immutable map, no concurrent map kept by every idle session
   */
  private volatile Map<String, String> jids = Map.of();

  /** forwards in order, waiting for a full socket to drain; made when a socket first fills */
  private ArrayDeque<Forward> blocked;
  private long blockedChars;
  /** a drain of other pods' payloads put off while congested */
  private Runnable drainWhenWritable;
  private volatile boolean congested;
  /** How long a gap in the forward numbers waits before the store is asked for what is missing. */
  static final long GAP_RECOVERY_MS = 2000;

  private final String sid;
  private final String firstStream;
  private final Link first;
  private final Context context;
  private final Connector connector;
  private final Owner owner;
  private final java.util.function.Supplier<ScriptContent> scriptContent;
  /** the session's script-syntax content not yet whole elements (XEP-0252), made on first use */
  private ScriptContent script;
  /** further streams by name, in the order they opened; an empty immutable map until the first (most sessions have none) */
  private Map<String, UpstreamLink> streams = Map.of();
  /** forwards for streams still being opened; likewise */
  private Map<String, List<Forward>> opening = Map.of();
  /** forwards ahead of the next expected number; null while none are (an idle session's state) */
  private TreeMap<Long, Forward> early;
  private long nextSeq = 1;
  /** nextSeq - 1, for other threads: the store's {@link io.xbosh.session.SessionStore#forwardsTaken} */
  private volatile long taken;
  /** timer asking the store for a forward missing too long, -1 when none */
  private long gapTimer = -1;
  private boolean firstOpen = true;
  /** the session is over: nothing more is applied, streams that finish opening are closed */
  private boolean over;
  private boolean closedReported;

  /**
   * @param firstStream the first stream's name, null when the session has no stream names
   * @param connector   opens further streams; null when they are off
   * @param scriptContent makes the reassembler of the session's script-syntax content
   */
  public SessionLinks(String sid, String firstStream, Link first, Connector connector, Owner owner,
      java.util.function.Supplier<ScriptContent> scriptContent) {
    this.sid = sid;
    this.firstStream = firstStream;
    this.first = first;
    this.context = first.context();
    this.connector = connector;
    this.owner = owner;
    this.scriptContent = scriptContent;
  }

  public String sid() {
    return sid;
  }

  /** The first stream's name, null when the session has no stream names. */
  public String firstStream() {
    return firstStream;
  }

  /** Starts passing server stanzas of the first stream on. */
  public void start() {
    first.attach(this);
  }

  /** Client forwards released by the store, in any order. */
  public void forward(List<Forward> forwards) {
    if (!forwards.isEmpty()) {
      runOnContext(() -> forwards.forEach(this::forward));
    }
  }

  /** Sends server stanzas the client will never read back to the server, each through its stream. */
  public void bounce(List<Queued> stanzas) {
    if (stanzas.isEmpty()) {
      return;
    }
    runOnContext(() -> {
      Map<Link, List<String>> byLink = new LinkedHashMap<>();
      for (Queued q : stanzas) {
        Link link = link(q.stream());
        if (link != null) {
          byLink.computeIfAbsent(link, l -> new ArrayList<>()).add(q.stanza());
        }
      }
      byLink.forEach(Link::bounce);
    });
  }

  /** Closes every link without a stream end (the session expired or is gone). */
  public void abort() {
    runOnContext(() -> {
      over = true;
      first.abort();
      new ArrayList<>(streams.values()).forEach(UpstreamLink::abort);
    });
  }

  /** Ends every stream cleanly (pod shutdown). */
  public void shutdown() {
    runOnContext(() -> {
      over = true;
      first.shutdown();
      new ArrayList<>(streams.values()).forEach(UpstreamLink::shutdown);
    });
  }

  private Link link(String stream) {
    return stream == null || stream.equals(firstStream) ? (firstOpen ? first : null) : streams.get(stream);
  }

  private void forward(Forward f) {
    if (over || f.seq() < nextSeq) {
      return;
    }
    if (early == null) {
      early = new TreeMap<>();
    }
    early.put(f.seq(), f);
    if (early.size() > MAX_EARLY_FORWARDS) {
      log.warn("sid={} rid gap never filled; ending the session", sid);
      over = true;
      early = null;
      owner.failed(sid, TerminateCondition.UNDEFINED_CONDITION);
      return;
    }
    Forward next;
    while (!over && early != null && (next = early.remove(nextSeq)) != null) {
      taken = nextSeq++;
      if (hasBlocked() || !writable()) {
        block(next);
      } else {
        apply(next);
      }
    }
    if (!over) {
      writable(); // what was just written may have filled a socket
    }
    if (early != null && early.isEmpty()) {
      early = null;
    }
    if (!over && early != null && gapTimer < 0) {
      watchGap();
    }
  }

  /** The highest forward number taken in order (applied, or waiting for a full socket); from any thread. */
  public long forwardsTaken() {
    return taken;
  }

  /**
   * Whether some link of the session cannot take more payloads now (its server is not reading);
   * from any thread.
   */
  public boolean congested() {
    return congested;
  }

  /**
   * Runs {@code drain} (taking other pods' payloads from the store) now, or once the session is
   * no longer congested: payloads wait in the store meanwhile.
   */
  public void drainWhenWritable(Runnable drain) {
    runOnContext(() -> {
      if (congested && !over) {
        drainWhenWritable = drain;
      } else {
        drain.run();
      }
    });
  }

  private boolean writable() {
    boolean ok = !firstOpen || first.writable(this::resume);
    for (UpstreamLink l : streams.values()) {
      ok &= l.writable(this::resume);
    }
    congested = !ok || hasBlocked();
    return ok;
  }

  private boolean hasBlocked() {
    return blocked != null && !blocked.isEmpty();
  }

  private void block(Forward f) {
    if (blocked == null) {
      blocked = new ArrayDeque<>();
    }
    blocked.add(f);
    blockedChars += f.payload().length();
    congested = true;
    if (blocked.size() > MAX_BLOCKED_FORWARDS || blockedChars > MAX_BLOCKED_CHARS) {
      log.warn("sid={} the server does not read what its client sends; ending the session", sid);
      over = true;
      blocked.clear();
      blockedChars = 0;
      owner.failed(sid, TerminateCondition.REMOTE_CONNECTION_FAILED);
    }
  }

  /** A full socket drained: what waited goes on, in order, as far as the sockets take it. */
  private void resume() {
    while (!over && hasBlocked() && writable()) {
      Forward f = blocked.poll();
      blockedChars -= f.payload().length();
      apply(f);
    }
    if (!over && !hasBlocked() && writable() && drainWhenWritable != null) {
      Runnable drain = drainWhenWritable;
      drainWhenWritable = null;
      drain.run();
    }
  }

  /**
   * The client resent a rid: the reply that carried its forward may have been lost, so take what
   * the store still keeps from the next expected number on (what was applied is ignored by number).
   */
  public void recover() {
    runOnContext(() -> {
      if (!over) {
        owner.missing(sid, nextSeq).onComplete(ar -> {
          if (ar.succeeded()) {
            forward(ar.result());
          }
        });
      }
    });
  }

  /** A forward is missing: if it still is after a while, the store gives it again. */
  private void watchGap() {
    long waitingFor = nextSeq;
    gapTimer = context.owner().setTimer(GAP_RECOVERY_MS, id -> {
      gapTimer = -1;
      if (over || early == null) {
        return;
      }
      if (nextSeq != waitingFor) {
        watchGap(); // progress meanwhile: give the new gap its own time
        return;
      }
      log.info("sid={} forward {} missing for {} ms; taking it from the store", sid, nextSeq, GAP_RECOVERY_MS);
      owner.missing(sid, nextSeq).onComplete(ar -> runOnContext(() -> {
        if (ar.succeeded()) {
          ar.result().forEach(this::forward);
        }
        if (!over && early != null && gapTimer < 0) {
          watchGap();
        }
      }));
    });
  }

  private void apply(Forward forward) {
    Forward f = forward;
    if (f.fragment()) {
      // XEP-0252: whole elements out of the content so far, in rid order
      if (script == null) {
        script = scriptContent.get();
      }
      String payload;
      try {
        payload = script.feed(f.payload());
      } catch (BoshException e) {
        log.info("sid={} bad script-syntax content: {}", sid, e.getMessage());
        over = true;
        owner.failed(sid, TerminateCondition.BAD_REQUEST);
        return;
      }
      f = new Forward(f.seq(), payload, f.restart(), f.terminate(), false, f.stream());
    }
    applyWhole(f);
  }

  private void applyWhole(Forward f) {
    if (f.open()) {
      open(f);
      return;
    }
    if (f.stream() == null) {
      // XEP-0124 §16.4: a body naming no stream is for every open stream
      if (firstOpen) {
        first.apply(f);
      }
      new ArrayList<>(streams.values()).forEach(l -> l.apply(f));
      if (f.terminate()) {
        over = true;
      }
      return;
    }
    Link link = link(f.stream());
    if (link != null) {
      link.apply(f);
      return;
    }
    List<Forward> waiting = opening.get(f.stream());
    if (waiting != null && waiting.size() < MAX_WAITING_FORWARDS) {
      waiting.add(f);
    }
    // else a stream that has ended: XEP-0124 §16.4 lets its late payloads go
  }

  /** XEP-0124 §16.3: a new stream to the server the client asked for, with the first stream's settings. */
  private void open(Forward f) {
    String name = f.stream();
    StreamRequest r;
    try {
      r = StreamRequest.decode(f.payload());
    } catch (IllegalArgumentException e) {
      owner.ended(sid, name, TerminateCondition.BAD_REQUEST, "");
      return;
    }
    if (connector == null || streams.containsKey(name) || opening.containsKey(name)) {
      owner.ended(sid, name, TerminateCondition.UNDEFINED_CONDITION, "");
      return;
    }
    SessionParams p = first.params();
    SessionParams params = new SessionParams(p.waitSeconds(), p.hold(), p.requests(), p.inactivity(), p.polling(), p.ver(),
        p.content(), p.ack(), r.to(), r.lang(), r.from(), r.route());
    if (opening.isEmpty()) {
      opening = new HashMap<>();
    }
    opening.put(name, new ArrayList<>());
    log.info("sid={} opening stream {} to {}", sid, name, r.to());
    // the address of the client that asked for the stream, else the one that began the session
    String client = r.client() != null ? r.client() : first.clientAddress();
    connector.connect(context, sid, name, params, client).onComplete(ar -> runOnContext(() -> {
      List<Forward> waiting = opening.remove(name);
      if (ar.failed()) {
        BoshException be = ar.cause() instanceof BoshException b ? b
            : new BoshException(TerminateCondition.REMOTE_CONNECTION_FAILED, String.valueOf(ar.cause().getMessage()));
        log.info("sid={} stream {} could not be opened: {}", sid, name, be.getMessage());
        owner.ended(sid, name, be.condition(), be.children());
        checkClosed();
        return;
      }
      UpstreamLink link = ar.result().link();
      if (over) {
        link.abort();
        return;
      }
      if (streams.isEmpty()) {
        streams = new LinkedHashMap<>();
      }
      streams.put(name, link);
      link.attach(this);
      waiting.forEach(link::apply);
    }));
  }

  // ---- LinkSink: what the links say

  @Override
  public Future<Delivery> deliver(String sid, String stream, String token, List<String> stanzas) {
    String key = stream == null ? "" : stream;
    if (!jids.containsKey(key)) {
      for (String stanza : stanzas) {
        String jid = boundJid(stanza);
        if (jid != null) {
          Map<String, String> next = new HashMap<>(jids);
          next.put(key, jid);
          jids = Map.copyOf(next);
          break;
        }
      }
    }
    return owner.deliver(sid, stream, token, stanzas);
  }

  /**
   * The JIDs the server bound, by stream ({@code ""} for the first stream when streams have no
   * names), for the admin API. Learned from the resource binding result (RFC 6120 §7.6.1) as it
   * passes; nothing else of a stanza is kept.
   */
  public Map<String, String> jids() {
    return jids;
  }

  /** The JID bound on the first stream, null until the server's bind result has passed. */
  public String jid() {
    String jid = jids.get("");
    return jid != null || firstStream == null ? jid : jids.get(firstStream);
  }

  /**
   * The JID of a resource binding result, or null when the stanza is none (an iq result that is not
   * a bind, any other stanza). Also read by the WebSocket streams for the admin listing.
   */
  public static String boundJid(String stanza) {
    if (!stanza.startsWith("<iq") || !stanza.contains("urn:ietf:params:xml:ns:xmpp-bind")) {
      return null;
    }
    int head = stanza.indexOf('>');
    if (head < 0 || !stanza.substring(0, head).matches("(?s).*\\btype\\s*=\\s*['\"]result['\"].*")) {
      return null;
    }
    int from = stanza.indexOf("<jid>", head);
    int to = from < 0 ? -1 : stanza.indexOf("</jid>", from);
    if (to < 0 || to - from - 5 > MAX_JID_CHARS) {
      return null;
    }
    return stanza.substring(from + 5, to).trim().replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"")
        .replace("&apos;", "'").replace("&amp;", "&");
  }

  @Override
  public Future<Void> ended(String sid, String stream, TerminateCondition condition, String children) {
    return owner.ended(sid, stream, condition, children);
  }

  @Override
  public void closed(String sid, String stream) {
    runOnContext(() -> {
      if (stream == null) {
        firstOpen = false;
      } else {
        if (!streams.isEmpty()) {
          streams.remove(stream);
        }
      }
      checkClosed();
      // a full link that closed holds nothing back any more
      resume();
    });
  }

  private void checkClosed() {
    if (!firstOpen && streams.isEmpty() && opening.isEmpty() && !closedReported) {
      over = true;
      closedReported = true;
      owner.closed(this);
    }
  }

  /** Now when on the links' event loop (whatever the context: each HTTP request has its own), else on it. */
  private void runOnContext(Runnable r) {
    io.xbosh.vertx.Loops.run(context, r);
  }
}
