package io.xbosh.upstream;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.ConnectOptions;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.SocketAddress;
import io.xbosh.config.XboshConfig.ProxyProtocol;
import io.xbosh.config.XboshConfig.UpstreamTls;
import io.xbosh.protocol.BoshException;
import io.xbosh.protocol.Namespaces;
import io.xbosh.protocol.Redact;
import io.xbosh.protocol.SessionParams;
import io.xbosh.protocol.TerminateCondition;
import io.xbosh.protocol.XmlEscape;
import io.xbosh.session.Forward;
import io.xbosh.session.SessionStore.Delivery;
import io.xbosh.vertx.PooledUtf8;
import io.xbosh.vertx.ConnectionTrim;
import io.xbosh.vertx.WriteQueues;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One c2s TCP stream to the XMPP server: a session's first stream, or another one it opened
 * (XEP-0124 §16). Owned by the pod that opened it and confined to one event loop, the one of its
 * session's {@link SessionLinks}, which puts client payloads in order and applies them here.
 *
 * <p>One {@link State} says where the link is; {@link #to} is the only place it changes. Server
 * stanzas go to the {@link LinkSink} one batch at a time, so their order survives a pooled store
 * client; while the sink is behind or the session's queue is full, the socket is paused:
 * backpressure, never loss. When the server's side ends (stream error, stream end, closed socket,
 * bad XML) the link keeps passing on what it read, then reports the end exactly once, then tells
 * the sink it is closed; a link whose server ends before it is attached does all that on
 * {@link #attach}.
 */
public final class UpstreamLink implements StreamReader.Handler, Link {

  private static final Logger log = LoggerFactory.getLogger(UpstreamLink.class);
  /** Stanzas in one hand-over to the sink at most (also never more than the session's queue bound). */
  static final int MAX_BATCH = 200;
  /** Characters in one hand-over at most (a batch has at least one stanza). */
  static final int MAX_BATCH_CHARS = 1 << 20;
  private static final long RETRY_MS = 100;
  private static final long MAX_RETRY_MS = 5000;
  private static final long CLOSE_GRACE_MS = 2000;

  /**
   * Where a link is. Moves only forward: CONNECTING → OPENING (⇄ SECURING) → OPEN → CLOSING or
   * ENDING → REPORTING → CLOSED; any state can go to CLOSED.
   */
  public enum State {
    /** the TCP connection is being made (behind a PROXY header, also direct TLS's handshake) */
    CONNECTING,
    /** the stream header is sent; the server's features are awaited */
    OPENING,
    /** {@code <starttls/>} is sent; {@code <proceed/>} and the handshake are awaited (RFC 6120 §5) */
    SECURING,
    /** the stream is up: server stanzas go to the sink, client payloads to the server */
    OPEN,
    /** the client ended the stream: {@code </stream:stream>} is sent, the server's side is awaited */
    CLOSING,
    /** the server's side is over: what it said still goes to the sink, then its end */
    ENDING,
    /** the end is being reported to the sink */
    REPORTING,
    /** nothing more happens; an attached sink has been told {@link LinkSink#closed} */
    CLOSED
  }

  /**
   * Bounds of one link.
   *
   * @param maxStanzaChars   largest server stanza
   * @param maxQueuedStanzas the session's queue bound in the store: stanzas buffered here before the
   *                         socket is paused, and the largest batch
   * @param maxReadAheadChars characters of stanzas buffered here before the socket is paused
   */
  public record Limits(int maxStanzaChars, int maxQueuedStanzas, int maxReadAheadChars) {
  }

  private record Ending(TerminateCondition condition, String children) {
  }

  private final Vertx vertx;
  private final Context context;
  private final String sid;
  private final String stream;
  private final SessionParams params;
  private final Limits limits;
  private final int batchLimit;
  private final StreamReader reader;
  /** stanzas read, not yet handed to the sink; small while the stream idles, grows with a burst */
  private final ArrayDeque<String> pending = new ArrayDeque<>(2);
  private long pendingChars;
  /** names this link in its batches' tokens: random, so a link opened later never reuses one */
  private final String linkId = newLinkId();
  /** the number of the latest batch taken from {@link #pending} */
  private long batchSeq;
  /** a batch that failed or met a full queue: it goes again, as it was and with its token, before anything newer */
  private List<String> unsent;

  private volatile State state = State.CONNECTING;
  private NetSocket socket;
  private Promise<StreamOpened> opening;
  /** completed by the server's SASL success, failed when the link closes before it */
  private final Promise<Void> authenticated = Promise.promise();
  private String streamId;
  private String streamFrom;
  /** the id of the server's latest stream header (a restart gets a new one) */
  private String currentStreamId;
  private LinkSink sink;
  /** a hand-over to the sink is under way or waits for its retry */
  private boolean inFlight;
  private volatile boolean readPaused;
  private Ending ending;
  private long retryMs = RETRY_MS;
  private long openTimer = -1;
  private long retryTimer = -1;
  private long graceTimer = -1;
  private Runnable onWritable;
  private UpstreamSecurity security = UpstreamSecurity.OFF;
  private boolean secured;
  /** the BOSH client's address for a PROXY protocol header; null or {@code -} when unknown */
  private final String clientAddress;

  /**
   * @param context the event loop the link is confined to
   * @param stream  the stream's name for {@link LinkSink}, null for the session's first stream
   *                (whose features go to the client in the creation response)
   */
  public UpstreamLink(Vertx vertx, Context context, String sid, String stream, SessionParams params, Limits limits) {
    this(vertx, context, sid, stream, params, limits, StreamReader.BODY_SCOPE, null);
  }

  /**
   * @param stanzaScope   how server stanzas are re-serialised, see {@link StreamReader#STANDALONE_SCOPE}
   * @param clientAddress the client's address, for a PROXY protocol header; null when unknown
   */
  public UpstreamLink(Vertx vertx, Context context, String sid, String stream, SessionParams params, Limits limits,
      Map<String, String> stanzaScope, String clientAddress) {
    this.clientAddress = clientAddress;
    this.vertx = vertx;
    this.context = context;
    this.sid = sid;
    this.stream = stream;
    this.params = params;
    this.limits = limits;
    this.batchLimit = Math.max(1, Math.min(MAX_BATCH, limits.maxQueuedStanzas()));
    this.reader = new StreamReader(this, limits.maxStanzaChars(), 64, stanzaScope);
  }

  public String sid() {
    return sid;
  }

  /** The stream's name, null for the session's first stream. */
  public String stream() {
    return stream;
  }

  public SessionParams params() {
    return params;
  }

  /** The BOSH client's address this link was opened for; null when unknown. */
  public String clientAddress() {
    return clientAddress;
  }

  /**
   * Succeeds when the server has sent SASL {@code <success/>} (RFC 6120 §6.4.6): the session is past
   * pre-authentication. Fails when the link closes first.
   */
  public Future<Void> authenticated() {
    return authenticated.future();
  }

  public State state() {
    return state;
  }

  public Context context() {
    return context;
  }

  /** The id of the server's latest stream header; on the link's event loop. */
  public String currentStreamId() {
    return currentStreamId;
  }

  /** Stanzas read from the server and not yet handed to the sink. */
  public int pendingStanzas() {
    return pending.size();
  }

  /** Whether reading from the server is paused (backpressure toward it). */
  public boolean readPaused() {
    return readPaused;
  }

  // ---- the one place the state changes

  private void to(State next) {
    State from = state;
    if (from == next || from == State.CLOSED) {
      return;
    }
    boolean allowed = switch (next) {
      case CONNECTING -> false;
      case OPENING -> from == State.CONNECTING || from == State.SECURING;
      case SECURING -> from == State.OPENING;
      case OPEN -> from == State.OPENING;
      case CLOSING, ENDING -> from == State.OPEN;
      case REPORTING -> from == State.ENDING;
      case CLOSED -> true;
    };
    if (!allowed) {
      throw new IllegalStateException("sid=" + sid + " link cannot go from " + from + " to " + next);
    }
    state = next;
    log.debug("sid={} stream={} link {} -> {}", sid, stream, from, next);
    switch (next) {
      case OPEN -> cancelOpenTimer();
      case ENDING -> {
        // the server's side is over: nothing more is read; what was read still goes to the sink
        resumeReading();
        if (socket != null) {
          socket.close();
        }
      }
      case CLOSED -> enterClosed(from);
      default -> {
      }
    }
  }

  private void enterClosed(State from) {
    cancelOpenTimer();
    cancelTimer(retryTimer);
    cancelTimer(graceTimer);
    retryTimer = -1;
    graceTimer = -1;
    if (opening != null) {
      Promise<StreamOpened> p = opening;
      opening = null;
      p.tryFail(new BoshException(TerminateCondition.REMOTE_CONNECTION_FAILED, "link closed while opening"));
    }
    if (socket != null) {
      socket.close();
    }
    pending.clear();
    pendingChars = 0;
    unsent = null;
    onWritable = null;
    authenticated.tryFail("link closed");
    if (sink != null) {
      LinkSink s = sink;
      sink = null;
      s.closed(sid, stream);
    }
  }

  // ---- what the owner asks

  /**
   * Connects, sends the stream header and waits for the server's features, securing the link first
   * as {@code security} says: TLS from the first byte, or STARTTLS (RFC 6120 §5) before the features
   * go to the client. Fails with a {@link BoshException}: {@code remote-connection-failed} or
   * {@code remote-stream-error}.
   */
  public Future<StreamOpened> open(NetClient client, SocketAddress target, long timeoutMs, UpstreamSecurity security) {
    return open(client, target, timeoutMs, security, ProxyProtocol.OFF);
  }

  /**
   * Like {@link #open(NetClient, SocketAddress, long, UpstreamSecurity)}, with a PROXY protocol
   * header as the connection's first bytes: before the stream header, and before the TLS handshake
   * of direct TLS (which then starts once the header is written).
   */
  public Future<StreamOpened> open(NetClient client, SocketAddress target, long timeoutMs, UpstreamSecurity security, ProxyProtocol proxy) {
    this.security = security;
    opening = Promise.promise();
    openTimer = vertx.setTimer(timeoutMs, id -> {
      openTimer = -1;
      failOpening(TerminateCondition.REMOTE_CONNECTION_FAILED, "no stream features from " + target + " within " + timeoutMs + " ms", "");
    });
    ConnectOptions connect = new ConnectOptions().setRemoteAddress(target);
    // behind a PROXY header, direct TLS starts on the open socket once the header is written
    boolean tlsAfterHeader = security.mode() == UpstreamTls.DIRECT && proxy != ProxyProtocol.OFF;
    if (security.mode() == UpstreamTls.DIRECT && !tlsAfterHeader) {
      connect.setSsl(true).setSslOptions(security.ssl()).setSniServerName(params.to());
      secured = true;
    }
    Future<StreamOpened> result = opening.future();
    client.connect(connect).onComplete(ar -> {
      if (ar.failed()) {
        failOpening(TerminateCondition.REMOTE_CONNECTION_FAILED, "cannot connect to " + target + ": " + ar.cause().getMessage(), "");
        return;
      }
      socket = ar.result();
      if (state == State.CLOSED) {
        socket.close();
        return;
      }
      // nothing written yet, on the socket's loop: the write queue an idle stream keeps can be the small one
      WriteQueues.slim(socket);
      if (socket instanceof io.vertx.core.net.impl.VertxConnection vc) {
        // set up: what Vert.x and Netty kept only for setting it up can go
        ConnectionTrim.trim(vc);
      }
      socket.handler(this::onData);
      socket.closeHandler(v -> onSocketClosed());
      socket.exceptionHandler(e -> log.debug("sid={} upstream socket error: {}", sid, e.getMessage()));
      Buffer proxyHeader = ProxyHeader.of(proxy, clientAddress, socket.localAddress());
      if (proxyHeader != null) {
        socket.write(proxyHeader);
      }
      if (tlsAfterHeader) {
        directTlsAfterHeader();
        return;
      }
      to(State.OPENING);
      sendHeader();
    });
    return result;
  }

  /** XEP-0368 direct TLS on a connection whose first bytes were the PROXY header; still CONNECTING. */
  private void directTlsAfterHeader() {
    socket.upgradeToSsl(security.ssl(), params.to()).onComplete(ar -> {
      if (state != State.CONNECTING) {
        return;
      }
      if (ar.failed()) {
        failOpening(TerminateCondition.REMOTE_CONNECTION_FAILED, "TLS with the server failed: " + ar.cause().getMessage(), "");
        return;
      }
      secured = true;
      to(State.OPENING);
      sendHeader();
    });
  }

  /**
   * Starts passing server stanzas to the sink; stanzas already read are passed first. A link that
   * ended meanwhile reports its end now; one already closed says so at once.
   */
  public void attach(LinkSink sink) {
    runOnContext(() -> {
      if (state == State.CLOSED) {
        sink.closed(sid, stream);
        return;
      }
      this.sink = sink;
      pump();
    });
  }

  /**
   * Closes the link without a stream end: the session expired or is gone (XEP-0198 resumption stays
   * possible). Stanzas read but not yet handed to the store go back to the server as errors.
   */
  public void abort() {
    runOnContext(() -> {
      bounceUnsent();
      bounce(pending);
      to(State.CLOSED);
    });
  }

  /** Ends the stream cleanly (pod shutdown; the session's end is already recorded). */
  public void shutdown() {
    runOnContext(() -> {
      bounceUnsent();
      bounce(pending);
      if (state == State.OPEN && socket != null) {
        socket.write("</stream:stream>");
      }
      to(State.CLOSED);
    });
  }

  /** Sends stanzas the client will never read back to the server as errors (XEP-0206 §7); on the link's event loop. */
  @Override
  public void bounce(Collection<String> stanzas) {
    if (socket == null || state != State.OPEN || stanzas.isEmpty()) {
      return;
    }
    StringBuilder errors = new StringBuilder();
    for (String stanza : stanzas) {
      String error = Bounce.of(stanza);
      if (error != null) {
        errors.append(error);
      }
    }
    if (!errors.isEmpty()) {
      socket.write(errors.toString());
    }
  }

  /**
   * Whether client payloads can be written now: false while the socket's write queue is full (the
   * server reads slower than the client sends). Then {@code whenWritable} runs once it has drained.
   */
  public boolean writable(Runnable whenWritable) {
    if (state != State.OPEN || socket == null || !socket.writeQueueFull()) {
      return true;
    }
    if (onWritable == null) {
      socket.drainHandler(v -> {
        socket.drainHandler(null);
        Runnable r = onWritable;
        onWritable = null;
        if (r != null && state != State.CLOSED) {
          r.run();
        }
      });
    }
    onWritable = whenWritable;
    return false;
  }

  /** Applies one client forward, in the session's order; on the link's event loop. */
  public void apply(Forward f) {
    if (state != State.OPEN) {
      return;
    }
    if (f.restart()) {
      // XEP-0206 §5: payloads of a restart request are ignored; a new stream on the same TCP connection
      reader.reset();
      sendHeader();
      return;
    }
    if (!f.payload().isEmpty()) {
      if (log.isTraceEnabled()) {
        log.trace("sid={} forward {} to server: {}", sid, f.seq(), Redact.sasl(f.payload()));
      }
      PooledUtf8.write(socket, f.payload());
    }
    if (f.terminate()) {
      // XEP-0124 §13: the payloads first, then close the stream; the server closes its side. The
      // store ended the session (or the stream) with the request: there is no end to report.
      socket.write("</stream:stream>");
      to(State.CLOSING);
      graceTimer = vertx.setTimer(CLOSE_GRACE_MS, id -> {
        graceTimer = -1;
        to(State.CLOSED);
      });
    }
  }

  private void sendHeader() {
    // B-62: to, xml:lang, version='1.0', default namespace jabber:client
    StringBuilder sb = new StringBuilder(256);
    sb.append("<?xml version='1.0'?><stream:stream xmlns=\"").append(Namespaces.CLIENT)
        .append("\" xmlns:stream=\"").append(Namespaces.STREAMS).append("\" version=\"1.0\" to=\"");
    XmlEscape.attribute(sb, params.to()).append("\" xml:lang=\"");
    XmlEscape.attribute(sb, params.lang()).append('"');
    if (params.from() != null) {
      sb.append(" from=\"");
      XmlEscape.attribute(sb, params.from()).append('"');
    }
    sb.append('>');
    socket.write(sb.toString());
  }

  // ---- what the server says

  private void onData(Buffer data) {
    if (state != State.OPENING && state != State.SECURING && state != State.OPEN && state != State.CLOSING) {
      return;
    }
    try {
      reader.feed(data.getBytes());
    } catch (StreamReader.StreamException e) {
      log.info("sid={} upstream protocol error: {}", sid, e.getMessage());
      switch (state) {
        case OPENING, SECURING -> failOpening(TerminateCondition.REMOTE_CONNECTION_FAILED, e.getMessage(), "");
        case OPEN -> {
          socket.write("<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>");
          end(TerminateCondition.UNDEFINED_CONDITION, "");
        }
        default -> to(State.CLOSED);
      }
    }
  }

  @Override
  public void streamOpened(Map<String, String> attributes) {
    currentStreamId = attributes.get("id");
    if (streamId == null) {
      streamId = attributes.get("id");
      String from = attributes.get("from");
      // the server's domain: one string for all its sessions
      streamFrom = from == null ? null : from.intern();
    }
  }

  @Override
  public void stanzas(List<String> stanzas) {
    switch (state) {
      case SECURING -> tls(stanzas.get(0));
      case OPENING -> features(stanzas);
      case OPEN, CLOSING -> {
        if (!authenticated.future().isComplete() && stanzas.stream().anyMatch(UpstreamLink::saslSuccess)) {
          authenticated.tryComplete();
        }
        stanzas.forEach(this::addPending);
        pump();
      }
      default -> {
      }
    }
  }

  /** The first stanza of a new stream is its features. */
  private void features(List<String> stanzas) {
    boolean offered = reader.starttlsOffered();
    if (!secured && offered && security.mode() != UpstreamTls.OFF) {
      to(State.SECURING);
      socket.write("<starttls xmlns='" + Namespaces.TLS + "'/>");
      return;
    }
    if (!secured && security.mode() == UpstreamTls.REQUIRED) {
      failOpening(TerminateCondition.REMOTE_CONNECTION_FAILED, "the server offers no STARTTLS and TLS is required", "");
      return;
    }
    StreamOpened opened = new StreamOpened(streamId, streamFrom, stanzas.get(0), secured);
    to(State.OPEN);
    // a further stream's features reach its client like any stanza of it (XEP-0124 §16.3)
    (stream == null ? stanzas.subList(1, stanzas.size()) : stanzas).forEach(this::addPending);
    Promise<StreamOpened> p = opening;
    opening = null;
    p.complete(opened);
    pump();
  }

  /** A top-level {@code <success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>}, whatever its prefix. */
  static boolean saslSuccess(String stanza) {
    int end = stanza.indexOf('>');
    if (end < 0 || !stanza.startsWith("<")) {
      return false;
    }
    String tag = stanza.substring(1, end);
    int space = tag.indexOf(' ');
    String name = space < 0 ? tag : tag.substring(0, space);
    String local = name.substring(name.indexOf(':') + 1).replace("/", "");
    return local.equals("success") && tag.contains(Namespaces.SASL);
  }

  /** RFC 6120 §5.4.2: the server's answer to {@code <starttls/>}; on proceed, TLS and a new stream. */
  private void tls(String answer) {
    if (!answer.startsWith("<proceed")) {
      failOpening(TerminateCondition.REMOTE_CONNECTION_FAILED, "the server refused STARTTLS", "");
      return;
    }
    socket.upgradeToSsl(security.ssl(), params.to()).onComplete(ar -> {
      if (state != State.SECURING) {
        return;
      }
      if (ar.failed()) {
        failOpening(TerminateCondition.REMOTE_CONNECTION_FAILED, "TLS with the server failed: " + ar.cause().getMessage(), "");
        return;
      }
      secured = true;
      streamId = null;
      streamFrom = null;
      reader.reset();
      to(State.OPENING);
      sendHeader();
    });
  }

  @Override
  public void streamError(String error) {
    switch (state) {
      case OPENING, SECURING -> failOpening(TerminateCondition.REMOTE_STREAM_ERROR, "stream error from server", error);
      // XEP-0206 §6: remote-stream-error carrying the server's error, after what came before it
      case OPEN -> {
        socket.write("</stream:stream>");
        end(TerminateCondition.REMOTE_STREAM_ERROR, error);
      }
      case CLOSING -> to(State.CLOSED);
      default -> {
      }
    }
  }

  @Override
  public void streamClosed() {
    switch (state) {
      case OPENING, SECURING -> failOpening(TerminateCondition.REMOTE_CONNECTION_FAILED, "server closed the stream", "");
      case OPEN -> {
        // RFC 6120 §4.4: close our side too
        socket.write("</stream:stream>");
        end(null, "");
      }
      case CLOSING -> to(State.CLOSED);
      default -> {
      }
    }
  }

  private void onSocketClosed() {
    switch (state) {
      case CONNECTING, OPENING, SECURING -> failOpening(TerminateCondition.REMOTE_CONNECTION_FAILED, "server closed the connection", "");
      case OPEN -> end(TerminateCondition.REMOTE_CONNECTION_FAILED, "");
      case CLOSING -> to(State.CLOSED);
      default -> {
        // ENDING and REPORTING closed the socket themselves and go on without it
      }
    }
  }

  /** The server's side is over: the end is reported behind the stanzas still pending. */
  private void end(TerminateCondition condition, String children) {
    ending = new Ending(condition, children);
    to(State.ENDING);
    pump();
  }

  // ---- handing stanzas to the sink

  private void addPending(String stanza) {
    pending.add(stanza);
    pendingChars += stanza.length();
  }

  private void pump() {
    if (sink == null || inFlight) {
      updateBackpressure();
      return;
    }
    if ((unsent != null || !pending.isEmpty()) && (state == State.OPEN || state == State.CLOSING || state == State.ENDING)) {
      List<String> batch;
      if (unsent != null) {
        // the same stanzas with the same token: a batch the store applied but whose reply was lost
        // is not applied again
        batch = unsent;
      } else {
        batch = takeBatch();
        batchSeq++;
        if (log.isTraceEnabled()) {
          log.trace("sid={} from server: {}", sid, Redact.sasl(String.join("", batch)));
        }
      }
      inFlight = true;
      sink.deliver(sid, stream, linkId + ":" + batchSeq, batch)
          .onComplete(ar -> onDelivered(batch, ar.succeeded() ? ar.result() : null, ar.cause()));
    } else if (pending.isEmpty() && state == State.ENDING) {
      to(State.REPORTING);
      reportEnd();
    }
    updateBackpressure();
  }

  /** At most {@link #batchLimit} stanzas (never more than the store's queue takes) and {@link #MAX_BATCH_CHARS}. */
  private List<String> takeBatch() {
    List<String> batch = new ArrayList<>(Math.min(pending.size(), batchLimit));
    long chars = 0;
    while (!pending.isEmpty() && batch.size() < batchLimit
        && (batch.isEmpty() || chars + pending.peek().length() <= MAX_BATCH_CHARS)) {
      String s = pending.poll();
      chars += s.length();
      batch.add(s);
    }
    pendingChars -= chars;
    return batch;
  }

  private void onDelivered(List<String> batch, Delivery d, Throwable failure) {
    inFlight = false;
    unsent = null;
    if (state == State.CLOSED) {
      return;
    }
    if (d != null && d.gone()) {
      // the client is gone: what it will never read goes back to the server (XEP-0206 §7)
      bounce(batch);
      bounce(pending);
      to(State.CLOSED);
      return;
    }
    if (d == null || d.full()) {
      // keep order: the batch waits in front of everything newer and goes again as it was, with
      // its token; try again shortly
      unsent = batch;
      if (failure != null) {
        log.warn("sid={} delivering server stanzas failed, retrying: {}", sid, failure.getMessage());
      }
      // a full queue empties when the client polls: retry soon; a failing store: back off
      retryLater(failure != null);
      return;
    }
    retryMs = RETRY_MS;
    pump();
  }

  /** A batch waiting for its retry goes back to the server as errors, in front of the pending stanzas. */
  private void bounceUnsent() {
    if (unsent != null) {
      List<String> batch = unsent;
      unsent = null;
      bounce(batch);
    }
  }

  private static String newLinkId() {
    return Long.toString(java.util.concurrent.ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE, 36);
  }

  /** The end goes to the sink once; a store that cannot take it is asked again until it does or the link is aborted. */
  private void reportEnd() {
    inFlight = true;
    sink.ended(sid, stream, ending.condition(), ending.children()).onComplete(ar -> {
      inFlight = false;
      if (state != State.REPORTING) {
        return;
      }
      if (ar.succeeded()) {
        to(State.CLOSED);
        return;
      }
      log.warn("sid={} reporting the end of the stream failed, retrying: {}", sid, ar.cause().getMessage());
      retryLater(true);
    });
  }

  private void retryLater(boolean backOff) {
    inFlight = true;
    updateBackpressure();
    long delay = backOff ? retryMs : RETRY_MS;
    retryMs = backOff ? Math.min(MAX_RETRY_MS, retryMs * 2) : RETRY_MS;
    retryTimer = vertx.setTimer(delay, id -> {
      retryTimer = -1;
      inFlight = false;
      if (state == State.REPORTING) {
        reportEnd();
      } else {
        pump();
      }
    });
  }

  /** Reading pauses above the count or character bound, or while a batch is out and a full one waits. */
  private void updateBackpressure() {
    if (socket == null || (state != State.OPEN && state != State.CLOSING)) {
      return;
    }
    boolean full = pending.size() >= limits.maxQueuedStanzas() || pendingChars >= limits.maxReadAheadChars()
        || (inFlight && pending.size() >= batchLimit);
    if (full && !readPaused) {
      readPaused = true;
      socket.pause();
    } else if (!full) {
      resumeReading();
    }
  }

  private void resumeReading() {
    if (readPaused && socket != null) {
      readPaused = false;
      socket.resume();
    }
  }

  private void failOpening(TerminateCondition condition, String message, String children) {
    if (opening != null) {
      Promise<StreamOpened> p = opening;
      opening = null;
      log.info("sid={} upstream open failed: {}", sid, message);
      p.fail(new BoshException(condition, message, children));
    }
    to(State.CLOSED);
  }

  private void cancelOpenTimer() {
    cancelTimer(openTimer);
    openTimer = -1;
  }

  private void cancelTimer(long id) {
    if (id >= 0) {
      vertx.cancelTimer(id);
    }
  }

  /** Now when on the links' event loop (whatever the context: each HTTP request has its own), else on it. */
  private void runOnContext(Runnable r) {
    io.xbosh.vertx.Loops.run(context, r);
  }
}
