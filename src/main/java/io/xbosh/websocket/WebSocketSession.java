package io.xbosh.websocket;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.ServerWebSocket;
import io.xbosh.protocol.BoshException;
import io.xbosh.protocol.Negotiator;
import io.xbosh.protocol.Redact;
import io.xbosh.protocol.SessionParams;
import io.xbosh.protocol.TerminateCondition;
import io.xbosh.session.Forward;
import io.xbosh.session.SessionStore.Delivery;
import io.xbosh.upstream.Connector;
import io.xbosh.upstream.LinkSink;
import io.xbosh.upstream.SessionLinks;
import io.xbosh.upstream.UpstreamLink;
import io.xbosh.websocket.ClientFrame.FrameException;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One XMPP stream over one WebSocket (RFC 7395): the client's messages go to an {@link UpstreamLink}
 * of its own, the server's stanzas come back as messages. Lives on the pod and event loop that hold
 * the socket, with no state in the session store.
 *
 * <p>One {@link State}, changed only in {@link #to}. Backpressure both ways: a server stanza batch is
 * taken only once the socket's write queue has room (the link pauses the server meanwhile), and the
 * client's socket is paused while the link's write queue toward the server is full.
 */
final class WebSocketSession implements LinkSink {

  private static final Logger log = LoggerFactory.getLogger(WebSocketSession.class);
  private static final Delivery DELIVERED = new Delivery(Delivery.Status.OK, List.of());
  /** After xbosh's {@code <close/>}, how long the client has to answer before the socket is closed (RFC 7395 §3.6). */
  private static final long CLOSE_GRACE_MS = 2000;

  /** Where a WebSocket stream is. Forward only: AWAITING_OPEN → CONNECTING → OPEN → CLOSING → CLOSED; any state → CLOSED. */
  enum State {
    /** the socket is up, the client's first {@code <open/>} is awaited */
    AWAITING_OPEN,
    /** the upstream link is being opened; the client's socket is paused */
    CONNECTING,
    /** messages flow both ways */
    OPEN,
    /** xbosh has sent (or answered) {@code <close/>}; the socket closes when flushed */
    CLOSING,
    /** socket and link are closed or closing on their own; nothing more happens */
    CLOSED
  }

  /** The endpoint's settings. */
  record Settings(int maxFrameBytes, long pingMs, long openTimeoutMs) {
  }

  private final Vertx vertx;
  private final Context context;
  private final String id;
  private final ServerWebSocket ws;
  private final Connector connector;
  private final FrameParser parser;
  private final Settings settings;
  private final WebSocketSessions sessions;

  private volatile State state = State.AWAITING_OPEN;
  private SessionParams params;
  private UpstreamLink link;
  private String serverFrom;
  /** a client {@code <open/>} restarted the stream: the next server message is preceded by xbosh's {@code <open/>} */
  private boolean restartPending;
  private volatile boolean clientPaused;
  /** a delivery waiting for the socket's write queue to drain */
  private Promise<Delivery> writing;
  /** a ping is out and nothing has been heard since */
  private boolean pingOutstanding;
  private long pings;
  private long pingTimer = -1;
  private long openTimer = -1;
  private long graceTimer = -1;
  /** the client's address (PROXY protocol to the server, when configured; the admin listing) */
  private final String clientAddress;
  private final long since = System.nanoTime();
  /** the JID the server bound, once its bind result has passed (the admin listing); null before */
  private volatile String jid;
  /** stream headers sent to the server: the first and one per restart (the admin listing) */
  private volatile int streams;

  WebSocketSession(Vertx vertx, Context context, String id, ServerWebSocket ws, Connector connector, FrameParser parser,
      Settings settings, WebSocketSessions sessions, String clientAddress) {
    this.clientAddress = clientAddress;
    this.vertx = vertx;
    this.context = context;
    this.id = id;
    this.ws = ws;
    this.connector = connector;
    this.parser = parser;
    this.settings = settings;
    this.sessions = sessions;
  }

  String id() {
    return id;
  }

  /** What the admin API shows of this stream; nothing of its content. Any thread. */
  WebSocketSessions.View view() {
    return new WebSocketSessions.View(id, clientAddress, (System.nanoTime() - since) / 1_000_000_000L, jid, streams,
        state.name().toLowerCase(java.util.Locale.ROOT).replace('_', '-'));
  }

  /** Pings sent so far (read by tests on any thread). */
  synchronized long pings() {
    return pings;
  }

  State state() {
    return state;
  }

  /** Whether reading from the client is paused because the server reads slower (for tests). */
  boolean clientPaused() {
    return clientPaused;
  }

  /** The upstream link once the stream is open, else null (for tests). */
  UpstreamLink link() {
    return link;
  }

  /** Starts reading the socket; on its event loop. */
  void start() {
    ws.textMessageHandler(this::onText);
    // RFC 7395 §3.2: XMPP goes in text messages only
    ws.binaryMessageHandler(b -> fail(StreamError.NOT_WELL_FORMED, "binary message"));
    ws.pongHandler(b -> heard());
    ws.closeHandler(v -> onSocketClosed());
    ws.exceptionHandler(e -> log.debug("ws={} socket error: {}", id, e.getMessage()));
    openTimer = vertx.setTimer(settings.openTimeoutMs(), t -> {
      openTimer = -1;
      if (state == State.AWAITING_OPEN) {
        fail(StreamError.CONNECTION_TIMEOUT, "no <open/> within " + settings.openTimeoutMs() + " ms");
      }
    });
    if (settings.pingMs() > 0) {
      pingTimer = vertx.setPeriodic(settings.pingMs(), t -> ping());
    }
  }

  // ---- the one place the state changes

  private void to(State next) {
    State from = state;
    if (from == next || from == State.CLOSED) {
      return;
    }
    boolean allowed = switch (next) {
      case AWAITING_OPEN -> false;
      case CONNECTING -> from == State.AWAITING_OPEN;
      case OPEN -> from == State.CONNECTING;
      case CLOSING, CLOSED -> true;
    };
    if (!allowed) {
      throw new IllegalStateException("ws=" + id + " cannot go from " + from + " to " + next);
    }
    state = next;
    log.debug("ws={} {} -> {}", id, from, next);
    switch (next) {
      case CONNECTING -> cancelTimer(openTimer);
      case CLOSING -> {
        cancelTimer(openTimer);
        // the client may still answer <close/>; then, or after the grace, the socket closes
        graceTimer = vertx.setTimer(CLOSE_GRACE_MS, t -> {
          graceTimer = -1;
          to(State.CLOSED);
        });
      }
      case CLOSED -> {
        if (writing != null) {
          writing.tryComplete(Delivery.GONE);
          writing = null;
        }
        cancelTimer(openTimer);
        cancelTimer(pingTimer);
        cancelTimer(graceTimer);
        if (!ws.isClosed()) {
          ws.close();
        }
        sessions.remove(this);
      }
      default -> {
      }
    }
  }

  // ---- what the client says

  private void onText(String text) {
    heard();
    if (state == State.CLOSING || state == State.CLOSED) {
      // RFC 7395 §3.6: the client's <close/> answering ours; anything else is too late
      if (state == State.CLOSING && answersClose(text)) {
        to(State.CLOSED);
      }
      return;
    }
    ClientFrame frame;
    try {
      frame = parser.parse(text);
    } catch (FrameException e) {
      fail(e.condition(), e.getMessage());
      return;
    }
    switch (state) {
      case AWAITING_OPEN -> {
        if (frame instanceof ClientFrame.Open open) {
          open(open);
        } else {
          // RFC 7395 §3.4: the stream begins with <open/>
          fail(StreamError.NOT_WELL_FORMED, "first message is not <open/>");
        }
      }
      case OPEN -> onStreamFrame(frame);
      default -> {
        // CONNECTING: the socket is paused; nothing arrives
      }
    }
  }

  private boolean answersClose(String text) {
    try {
      return parser.parse(text) instanceof ClientFrame.Close;
    } catch (FrameException e) {
      return false;
    }
  }

  private void open(ClientFrame.Open open) {
    StreamError refused = check(open);
    if (refused != null) {
      fail(refused, "refused <open/>: " + open);
      return;
    }
    params = new SessionParams(0, 0, 0, 0, 0, null, "text/xml; charset=utf-8", false, open.to(),
        Negotiator.lang(open.lang()), open.from(), null);
    to(State.CONNECTING);
    streams = 1;
    ws.pause();
    long started = System.nanoTime();
    connector.connect(context, id, null, params, clientAddress).onComplete(ar -> {
      sessions.metrics().upstreamConnect().record(System.nanoTime() - started, java.util.concurrent.TimeUnit.NANOSECONDS);
      if (ar.succeeded()) {
        connected(ar.result());
      } else {
        connectFailed(ar.cause());
      }
    });
  }

  /** RFC 7395 §3.4 and RFC 6120 §4.7: what an {@code <open/>} must carry. */
  private static StreamError check(ClientFrame.Open open) {
    if (open.to() == null || open.to().isEmpty() || !Negotiator.isDomain(open.to())) {
      return StreamError.HOST_UNKNOWN;
    }
    if (!"1.0".equals(open.version())) {
      return StreamError.UNSUPPORTED_VERSION;
    }
    return null;
  }

  private void connected(Connector.Connected c) {
    if (state != State.CONNECTING) {
      // the client left while the link was opening
      c.link().abort();
      return;
    }
    link = c.link();
    serverFrom = c.opened().from() != null ? c.opened().from() : params.to();
    log.info("ws={} stream open to {} (server stream {})", id, params.to(), c.opened().id());
    to(State.OPEN);
    write(Framing.open(serverFrom, c.opened().id(), params.lang()));
    write(c.opened().features());
    link.attach(this);
    ws.resume();
  }

  private void connectFailed(Throwable e) {
    if (state != State.CONNECTING) {
      return;
    }
    sessions.metrics().upstreamConnectFailed(e instanceof BoshException be ? be.condition().wireName() : "internal-server-error");
    if (e instanceof BoshException be && be.condition() == TerminateCondition.REMOTE_STREAM_ERROR && !be.children().isEmpty()) {
      // the server's own stream error (already standalone), then the end
      log.info("ws={} the server refused the stream: {}", id, e.getMessage());
      endWith(be.children());
      return;
    }
    StreamError condition = e instanceof BoshException be ? switch (be.condition()) {
      case HOST_UNKNOWN -> StreamError.HOST_UNKNOWN;
      case IMPROPER_ADDRESSING -> StreamError.IMPROPER_ADDRESSING;
      default -> StreamError.REMOTE_CONNECTION_FAILED;
    } : StreamError.REMOTE_CONNECTION_FAILED;
    fail(condition, "no upstream stream: " + e.getMessage());
  }

  private void onStreamFrame(ClientFrame frame) {
    if (frame instanceof ClientFrame.Open open) {
      // RFC 7395 §3.5: a new <open/> after SASL restarts the stream
      StreamError refused = check(open);
      if (refused != null) {
        fail(refused, "refused restart: " + open);
        return;
      }
      restartPending = true;
      streams++;
      link.apply(new Forward(0, "", true, false));
    } else if (frame instanceof ClientFrame.Close) {
      // RFC 7395 §3.6: end the server's stream, answer <close/>, close the socket
      link.apply(new Forward(0, "", false, true));
      write(Framing.close());
      to(State.CLOSED);
    } else if (frame instanceof ClientFrame.Element element) {
      if (log.isTraceEnabled()) {
        log.trace("ws={} to server: {}", id, Redact.sasl(element.xml()));
      }
      link.apply(new Forward(0, element.xml(), false, false));
      sessions.metrics().stanzasIn(1);
      if (!link.writable(this::resumeClient)) {
        // the server reads slower than the client writes: stop reading the client
        clientPaused = true;
        ws.pause();
      }
    }
  }

  private void resumeClient() {
    context.runOnContext(v -> {
      if (clientPaused && state == State.OPEN) {
        clientPaused = false;
        ws.resume();
      }
    });
  }

  /** The stream ends with xbosh's own error: {@code <open/>} first if the stream never began (RFC 6120 §4.9.1.1). */
  private void fail(StreamError condition, String why) {
    if (state == State.CLOSING || state == State.CLOSED) {
      return;
    }
    log.info("ws={} stream error {}: {}", id, condition.wire(), why);
    sessions.metrics().webSocketError(condition.wire());
    endWith(Framing.streamError(condition));
  }

  private void endWith(String error) {
    if (state == State.AWAITING_OPEN || state == State.CONNECTING) {
      write(Framing.open(params != null ? params.to() : null, null, null));
    }
    write(error);
    write(Framing.close());
    if (link != null) {
      link.shutdown();
    }
    to(State.CLOSING);
  }

  private void onSocketClosed() {
    if (state == State.OPEN && link != null) {
      // gone without <close/>: drop the server's stream without ending it, as when a BOSH session
      // expires, so that XEP-0198 resumption stays possible
      log.info("ws={} client went away without <close/>", id);
      link.abort();
    }
    to(State.CLOSED);
  }

  // ---- keepalive

  private void heard() {
    pingOutstanding = false;
  }

  private void ping() {
    if (state == State.CLOSED) {
      return;
    }
    if (pingOutstanding) {
      // nothing heard for a whole interval after a ping: the peer is dead
      log.info("ws={} no answer to ping within {} ms: closing", id, settings.pingMs());
      sessions.metrics().webSocketError("dead-peer");
      if (link != null) {
        link.abort();
      }
      to(State.CLOSED);
      return;
    }
    pingOutstanding = true;
    synchronized (this) {
      pings++;
    }
    ws.writePing(Buffer.buffer("xbosh"));
  }

  // ---- pod-wide ends (on any thread)

  /** Drain: RFC 7395 §3.6.1, the client is asked to reconnect elsewhere. */
  void redirect(String seeOtherUri) {
    context.runOnContext(v -> {
      if (state == State.CLOSING || state == State.CLOSED) {
        return;
      }
      log.info("ws={} draining: see-other-uri {}", id, seeOtherUri);
      write(Framing.close(seeOtherUri));
      if (link != null) {
        link.shutdown();
      }
      to(State.CLOSING);
    });
  }

  /** The pod stops: system-shutdown. */
  void shutdown() {
    context.runOnContext(v -> fail(StreamError.SYSTEM_SHUTDOWN, "pod stopping"));
  }

  /** An operator ends the stream (admin API): the stream error, then {@code <close/>}; the server's stream is ended. */
  void end(StreamError condition) {
    context.runOnContext(v -> fail(condition, "ended by an operator"));
  }

  // ---- what the server says (LinkSink), on the link's event loop, which is the socket's

  @Override
  public Future<Delivery> deliver(String sid, String stream, String token, List<String> stanzas) {
    if (state != State.OPEN || ws.isClosed()) {
      return Future.succeededFuture(Delivery.GONE);
    }
    if (restartPending) {
      restartPending = false;
      write(Framing.open(serverFrom, link.currentStreamId(), params.lang()));
    }
    for (String stanza : stanzas) {
      if (jid == null) {
        jid = SessionLinks.boundJid(stanza);
      }
      write(stanza);
    }
    sessions.metrics().stanzasOut(stanzas.size());
    if (!ws.writeQueueFull()) {
      return Future.succeededFuture(DELIVERED);
    }
    // the client reads slower than the server writes: the link pauses the server until this completes
    writing = Promise.promise();
    ws.drainHandler(v -> {
      ws.drainHandler(null);
      Promise<Delivery> p = writing;
      writing = null;
      if (p != null) {
        p.tryComplete(DELIVERED);
      }
    });
    return writing.future();
  }

  @Override
  public Future<Void> ended(String sid, String stream, TerminateCondition condition, String children) {
    if (state != State.OPEN) {
      return Future.succeededFuture();
    }
    if (condition == null) {
      // RFC 7395 §3.6: the server's </stream:stream> becomes <close/>
      write(Framing.close());
      to(State.CLOSING);
    } else if (condition == TerminateCondition.REMOTE_STREAM_ERROR && !children.isEmpty()) {
      endWith(children);
    } else {
      fail(StreamError.REMOTE_CONNECTION_FAILED, "the server's side ended: " + condition.wireName());
    }
    return Future.succeededFuture();
  }

  @Override
  public void closed(String sid, String stream) {
    if (state == State.OPEN) {
      // closed without a word from the server (cannot normally happen: ended comes first)
      fail(StreamError.REMOTE_CONNECTION_FAILED, "upstream link closed");
    }
  }

  /** One message to the client; a failed write means the socket is going, which its close handler sees. */
  private void write(String message) {
    ws.writeTextMessage(message).onFailure(e -> log.debug("ws={} write failed: {}", id, e.getMessage()));
  }

  private void cancelTimer(long timer) {
    if (timer >= 0) {
      vertx.cancelTimer(timer);
    }
  }
}
