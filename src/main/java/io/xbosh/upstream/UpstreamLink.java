package io.xbosh.upstream;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.ConnectOptions;
import io.vertx.core.net.NetClient;
import io.xbosh.config.XboshConfig.UpstreamTls;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.SocketAddress;
import io.xbosh.protocol.BoshException;
import io.xbosh.protocol.Namespaces;
import io.xbosh.protocol.Redact;
import io.xbosh.protocol.SessionParams;
import io.xbosh.protocol.TerminateCondition;
import io.xbosh.protocol.XmlEscape;
import io.xbosh.session.Forward;
import io.xbosh.session.SessionStore.Delivery;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One c2s TCP stream to the XMPP server: a session's first stream, or another one it opened
 * (XEP-0124 §16). Owned by the pod that opened it and confined to one event loop, the one of its
 * session's {@link SessionLinks}, which puts client payloads in order and applies them here.
 *
 * <p>Server stanzas go to the {@link LinkSink} one batch at a time, so their order survives a
 * pooled store client; while the sink is behind or the session's queue is full, the socket is
 * paused: backpressure, never loss.
 */
public final class UpstreamLink implements StreamReader.Handler {

  private static final Logger log = LoggerFactory.getLogger(UpstreamLink.class);
  private static final int MAX_BATCH = 200;
  private static final long RETRY_MS = 100;
  private static final long CLOSE_GRACE_MS = 2000;

  public enum State { CONNECTING, OPENING, OPEN, CLOSING, CLOSED }

  private final Vertx vertx;
  private final Context context;
  private final String sid;
  private final String stream;
  private final SessionParams params;
  private final int maxPending;
  private final StreamReader reader;
  private final ArrayDeque<String> pending = new ArrayDeque<>();

  private State state = State.CONNECTING;
  private NetSocket socket;
  private Promise<StreamOpened> opening;
  /** completed by the server's SASL success, failed when the link closes before it */
  private final Promise<Void> authenticated = Promise.promise();
  private String streamId;
  private String streamFrom;
  private LinkSink sink;
  private boolean delivering;
  private boolean paused;
  private Ending ending;
  private boolean endReported;
  private long openTimer = -1;
  private UpstreamSecurity security = UpstreamSecurity.OFF;
  private boolean secured;
  private boolean tlsRequested;

  private record Ending(TerminateCondition condition, String children) {
  }

  /**
   * @param context        the event loop the link is confined to
   * @param stream         the stream's name for {@link LinkSink}, null for the session's first stream
   *                       (whose features go to the client in the creation response)
   * @param maxStanzaChars largest server stanza
   * @param maxPending     server stanzas buffered here before the socket is paused
   */
  public UpstreamLink(Vertx vertx, Context context, String sid, String stream, SessionParams params, int maxStanzaChars,
      int maxPending) {
    this.vertx = vertx;
    this.context = context;
    this.sid = sid;
    this.stream = stream;
    this.params = params;
    this.maxPending = maxPending;
    this.reader = new StreamReader(this, maxStanzaChars, 64);
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

  /**
   * Connects, sends the stream header and waits for the server's features, securing the link first
   * as {@code security} says: TLS from the first byte, or STARTTLS (RFC 6120 §5) before the features
   * go to the client. Fails with a {@link BoshException}: {@code remote-connection-failed} or
   * {@code remote-stream-error}.
   */
  public Future<StreamOpened> open(NetClient client, SocketAddress target, long timeoutMs, UpstreamSecurity security) {
    this.security = security;
    opening = Promise.promise();
    openTimer = vertx.setTimer(timeoutMs, id -> failOpening(TerminateCondition.REMOTE_CONNECTION_FAILED,
        "no stream features from " + target + " within " + timeoutMs + " ms", ""));
    ConnectOptions connect = new ConnectOptions().setRemoteAddress(target);
    if (security.mode() == UpstreamTls.DIRECT) {
      connect.setSsl(true).setSslOptions(security.ssl()).setSniServerName(params.to());
      secured = true;
    }
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
      socket.handler(this::onData);
      socket.closeHandler(v -> onSocketClosed());
      socket.exceptionHandler(e -> log.debug("sid={} upstream socket error: {}", sid, e.getMessage()));
      state = State.OPENING;
      sendHeader();
    });
    return opening.future();
  }

  /** Starts passing server stanzas to the sink; stanzas already read are passed first. */
  public void attach(LinkSink sink) {
    runOnContext(() -> {
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
      if (state == State.OPEN) {
        bounce(pending);
        pending.clear();
      }
      close(false);
    });
  }

  /** Sends stanzas the client will never read back to the server as errors (XEP-0206 §7); on the link's event loop. */
  void bounce(java.util.Collection<String> stanzas) {
    if (socket == null || state != State.OPEN) {
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

  /** Ends the stream cleanly (pod shutdown). */
  public void shutdown() {
    runOnContext(() -> close(true));
  }

  /** Applies one client forward, in the session's order; on the link's event loop. */
  void apply(Forward f) {
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
      socket.write(f.payload());
    }
    if (f.terminate()) {
      // XEP-0124 §13: the payloads first, then close the stream; the server closes its side
      socket.write("</stream:stream>");
      state = State.CLOSING;
      endReported = true;
      vertx.setTimer(CLOSE_GRACE_MS, id -> close(false));
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

  private void onData(Buffer data) {
    try {
      reader.feed(data.getBytes());
    } catch (StreamReader.StreamException e) {
      log.info("sid={} upstream protocol error: {}", sid, e.getMessage());
      if (state == State.OPENING) {
        failOpening(TerminateCondition.REMOTE_CONNECTION_FAILED, e.getMessage(), "");
      } else {
        socket.write("<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>");
        end(TerminateCondition.UNDEFINED_CONDITION, "");
      }
    }
  }

  @Override
  public void streamOpened(Map<String, String> attributes) {
    if (streamId == null) {
      streamId = attributes.get("id");
      streamFrom = attributes.get("from");
    }
  }

  @Override
  public void stanzas(List<String> stanzas) {
    if (state == State.OPENING && opening != null && tlsRequested) {
      tls(stanzas.get(0));
      return;
    }
    if (state == State.OPENING && opening != null) {
      // the first stanza of a new stream is its features
      String features = stanzas.get(0);
      boolean offered = reader.starttlsOffered();
      if (!secured && offered && security.mode() != UpstreamTls.OFF) {
        tlsRequested = true;
        socket.write("<starttls xmlns='" + Namespaces.TLS + "'/>");
        return;
      }
      if (!secured && security.mode() == UpstreamTls.REQUIRED) {
        failOpening(TerminateCondition.REMOTE_CONNECTION_FAILED, "the server offers no STARTTLS and TLS is required", "");
        return;
      }
      StreamOpened opened = new StreamOpened(streamId, streamFrom, features, secured);
      state = State.OPEN;
      cancelOpenTimer();
      Promise<StreamOpened> p = opening;
      opening = null;
      // a further stream's features reach its client like any stanza of it (XEP-0124 §16.3)
      pending.addAll(stream == null ? stanzas.subList(1, stanzas.size()) : stanzas);
      p.complete(opened);
    } else {
      if (!authenticated.future().isComplete() && stanzas.stream().anyMatch(UpstreamLink::saslSuccess)) {
        authenticated.tryComplete();
      }
      pending.addAll(stanzas);
    }
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
      if (ar.failed()) {
        failOpening(TerminateCondition.REMOTE_CONNECTION_FAILED, "TLS with the server failed: " + ar.cause().getMessage(), "");
        return;
      }
      secured = true;
      tlsRequested = false;
      streamId = null;
      streamFrom = null;
      reader.reset();
      sendHeader();
    });
  }

  @Override
  public void streamError(String error) {
    if (state == State.OPENING) {
      failOpening(TerminateCondition.REMOTE_STREAM_ERROR, "stream error from server", error);
      return;
    }
    // XEP-0206 §6: remote-stream-error carrying the server's error, after what came before it
    end(TerminateCondition.REMOTE_STREAM_ERROR, error);
  }

  @Override
  public void streamClosed() {
    if (state == State.OPENING) {
      failOpening(TerminateCondition.REMOTE_CONNECTION_FAILED, "server closed the stream", "");
    } else if (state != State.CLOSING) {
      end(null, "");
    }
    if (socket != null && state == State.CLOSING) {
      socket.write("</stream:stream>");
    }
  }

  private void onSocketClosed() {
    if (state == State.OPENING || state == State.CONNECTING) {
      failOpening(TerminateCondition.REMOTE_CONNECTION_FAILED, "server closed the connection", "");
    } else if (state == State.OPEN) {
      end(TerminateCondition.REMOTE_CONNECTION_FAILED, "");
    }
    finish();
  }

  /** Queues the session's end behind the stanzas still pending, then closes. */
  private void end(TerminateCondition condition, String children) {
    if (ending == null && !endReported) {
      ending = new Ending(condition, children);
    }
    if (state != State.CLOSED) {
      state = State.CLOSING;
    }
    pump();
  }

  private void pump() {
    if (sink == null || delivering) {
      return;
    }
    if (!pending.isEmpty()) {
      List<String> batch = new ArrayList<>(Math.min(pending.size(), MAX_BATCH));
      while (!pending.isEmpty() && batch.size() < MAX_BATCH) {
        batch.add(pending.poll());
      }
      delivering = true;
      if (log.isTraceEnabled()) {
        log.trace("sid={} from server: {}", sid, Redact.sasl(String.join("", batch)));
      }
      sink.deliver(sid, stream, batch).onComplete(ar -> onDelivered(batch, ar.succeeded() ? ar.result() : null, ar.cause()));
    } else if (ending != null && !endReported) {
      endReported = true;
      delivering = true;
      sink.ended(sid, stream, ending.condition(), ending.children()).onComplete(ar -> {
        delivering = false;
        close(false);
      });
    }
    updateBackpressure();
  }

  private void onDelivered(List<String> batch, Delivery d, Throwable failure) {
    delivering = false;
    if (d != null && d.gone()) {
      // the client is gone: what it will never read goes back to the server (XEP-0206 §7)
      bounce(batch);
      bounce(pending);
      pending.clear();
      endReported = true;
      close(false);
      return;
    }
    if (d == null || d.full()) {
      // keep order: the batch goes back in front; try again shortly
      for (int i = batch.size() - 1; i >= 0; i--) {
        pending.addFirst(batch.get(i));
      }
      if (failure != null) {
        log.warn("sid={} delivering server stanzas failed, retrying: {}", sid, failure.getMessage());
      }
      delivering = true;
      updateBackpressure();
      vertx.setTimer(RETRY_MS, id -> {
        delivering = false;
        pump();
      });
      return;
    }
    pump();
  }

  private void updateBackpressure() {
    if (socket == null || state == State.CLOSED) {
      return;
    }
    boolean shouldPause = pending.size() >= maxPending || (delivering && !pending.isEmpty() && pending.size() >= MAX_BATCH);
    if (shouldPause && !paused) {
      paused = true;
      socket.pause();
    } else if (!shouldPause && paused) {
      paused = false;
      socket.resume();
    }
  }

  private void failOpening(TerminateCondition condition, String message, String children) {
    cancelOpenTimer();
    if (opening != null) {
      Promise<StreamOpened> p = opening;
      opening = null;
      log.info("sid={} upstream open failed: {}", sid, message);
      p.fail(new BoshException(condition, message, children));
    }
    close(false);
  }

  private void close(boolean graceful) {
    if (state == State.CLOSED) {
      return;
    }
    if (socket != null && graceful && state == State.OPEN) {
      socket.write("</stream:stream>");
    }
    state = State.CLOSED;
    cancelOpenTimer();
    if (socket != null) {
      socket.close();
    }
    finish();
  }

  private void finish() {
    if (state != State.CLOSED) {
      state = State.CLOSED;
      if (socket != null) {
        socket.close();
      }
    }
    pending.clear();
    authenticated.tryFail("link closed");
    if (sink != null) {
      LinkSink s = sink;
      sink = null;
      s.closed(sid, stream);
    }
  }

  private void cancelOpenTimer() {
    if (openTimer >= 0) {
      vertx.cancelTimer(openTimer);
      openTimer = -1;
    }
  }

  public Context context() {
    return context;
  }

  private void runOnContext(Runnable r) {
    if (Vertx.currentContext() == context) {
      r.run();
    } else {
      context.runOnContext(v -> r.run());
    }
  }
}
