package io.xbosh.upstream;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.SocketAddress;
import io.xbosh.config.XboshConfig.ProxyProtocol;
import io.xbosh.protocol.BoshException;
import io.xbosh.protocol.SessionParams;
import io.xbosh.protocol.TerminateCondition;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Opens upstream links: picks the servers for a stream's {@code to} and {@code route}, tries them in
 * order (SRV records give several), each attempt with a fresh link, and follows one
 * {@code see-other-host} redirect the operator admits (RFC 6120 §4.9.3.19). Used for a session's
 * first stream and for every further one (XEP-0124 §16.3).
 */
public final class Connector {

  private static final Logger log = LoggerFactory.getLogger(Connector.class);
  private static final Pattern SEE_OTHER_HOST =
      Pattern.compile("<see-other-host xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\">([^<]{1,300})</see-other-host>");
  private static final int MAX_TARGETS = 64;
  private static final String BUSY = "too many connections to XMPP servers being opened at once";

  /**
   * Limits of a link.
   *
   * @param proxyProtocol the PROXY protocol header sent first on each connection, carrying the client's address
   */
  public record Settings(int maxStanzaBytes, int maxQueuedStanzas, int maxReadAheadBytes, long connectTimeoutMs, UpstreamSecurity security,
      ProxyProtocol proxyProtocol) {

    /** Without a PROXY protocol header. */
    public Settings(int maxStanzaBytes, int maxQueuedStanzas, int maxReadAheadBytes, long connectTimeoutMs, UpstreamSecurity security) {
      this(maxStanzaBytes, maxQueuedStanzas, maxReadAheadBytes, connectTimeoutMs, security, ProxyProtocol.OFF);
    }

    UpstreamLink.Limits limits() {
      return new UpstreamLink.Limits(maxStanzaBytes, maxQueuedStanzas, maxReadAheadBytes);
    }
  }

  /** An open link and the server's answer to its stream header. */
  public record Connected(UpstreamLink link, StreamOpened opened) {
  }

  /** A session's first link, of whatever kind, and what its stream header got. */
  public record Opened(Link link, StreamOpened opened) {
  }

  private final Vertx vertx;
  private final UpstreamResolver resolver;
  private final NetClient netClient;
  private final Settings settings;
  private final Map<String, String> stanzaScope;
  private final ConnectGate gate;
  /** serves some domains with another kind of link; null when none */
  private final LinkOpener opener;

  /** @param gate the pod's bound on connects in flight, shared by every event loop's connector */
  public Connector(Vertx vertx, UpstreamResolver resolver, NetClient netClient, Settings settings, ConnectGate gate) {
    this(vertx, resolver, netClient, settings, StreamReader.BODY_SCOPE, gate, null);
  }

  private Connector(Vertx vertx, UpstreamResolver resolver, NetClient netClient, Settings settings, Map<String, String> stanzaScope,
      ConnectGate gate, LinkOpener opener) {
    this.vertx = vertx;
    this.resolver = resolver;
    this.netClient = netClient;
    this.settings = settings;
    this.stanzaScope = stanzaScope;
    this.gate = gate;
    this.opener = opener;
  }

  /** The same connector, with the domains {@code opener} serves opened by it (BOSH sessions' first stream only). */
  public Connector with(LinkOpener opener) {
    return new Connector(vertx, resolver, netClient, settings, stanzaScope, gate, opener);
  }

  /**
   * Opens a session's first stream: through the {@link LinkOpener} for a domain it serves, else as
   * {@link #connect(Context, String, String, SessionParams, String)} does.
   */
  public Future<Opened> openFirst(Context context, String sid, SessionParams params, String client) {
    if (opener != null && opener.serves(params.to().toLowerCase(java.util.Locale.ROOT))) {
      return opener.open(context, sid, params, client);
    }
    return connect(context, sid, null, params, client).map(c -> new Opened(c.link(), c.opened()));
  }

  /** Whether new sessions for {@code domain} go to this process's warm-up server (see {@link UpstreamResolver#inProcess}). */
  public boolean inProcess(String domain) {
    return resolver.inProcess(domain);
  }

  /** The same connector for links whose stanzas stand alone (XMPP over WebSocket, RFC 7395 §3.3.3). */
  public Connector standalone() {
    return new Connector(vertx, resolver, netClient, settings, StreamReader.STANDALONE_SCOPE, gate, opener);
  }

  /**
   * Opens a stream for a session. Fails with a {@link BoshException}: {@code host-unknown},
   * {@code improper-addressing}, {@code remote-connection-failed} or {@code remote-stream-error};
   * at once with {@code remote-connection-failed} (see {@link #busy}) while the pod has as many
   * connects in flight as its {@link ConnectGate} allows.
   *
   * @param context the event loop the link is confined to
   * @param stream  the stream's name, null for the session's first stream
   */
  public Future<Connected> connect(Context context, String sid, String stream, SessionParams params) {
    return connect(context, sid, stream, params, null);
  }

  /** @return whether a connect failed because the pod had too many in flight (nothing was tried: the client may retry soon) */
  public static boolean busy(Throwable e) {
    return e instanceof BoshException be && be.condition() == TerminateCondition.REMOTE_CONNECTION_FAILED && BUSY.equals(be.getMessage());
  }

  /**
   * Like {@link #connect(Context, String, String, SessionParams)}, for a client at {@code client}:
   * the address the PROXY protocol header carries when one is configured (null or {@code -}:
   * unknown, the header says so).
   */
  public Future<Connected> connect(Context context, String sid, String stream, SessionParams params, String client) {
    if (opener != null && opener.serves(params.to().toLowerCase(java.util.Locale.ROOT))) {
      // such a domain has no XMPP server: only a BOSH session's first stream is served, by the opener
      return Future.failedFuture(new BoshException(TerminateCondition.HOST_UNKNOWN, params.to() + " is served for BOSH sessions' first stream only"));
    }
    if (!gate.tryEnter()) {
      return Future.failedFuture(new BoshException(TerminateCondition.REMOTE_CONNECTION_FAILED, BUSY));
    }
    Future<Connected> connected;
    try {
      connected = resolver.resolve(params.to(), params.route()).compose(targets -> connect(context, sid, stream, params, client, targets, 0));
    } catch (RuntimeException e) {
      gate.exit();
      throw e;
    }
    return connected.andThen(ar -> gate.exit());
  }

  private Future<Connected> connect(Context context, String sid, String stream, SessionParams params, String client,
      List<SocketAddress> targets, int i) {
    if (targets.isEmpty()) {
      return Future.failedFuture(new BoshException(TerminateCondition.HOST_UNKNOWN, "no server for " + params.to()));
    }
    UpstreamLink link = new UpstreamLink(vertx, context, sid, stream, params, settings.limits(), stanzaScope, client);
    Promise<StreamOpened> opened = Promise.promise();
    // the socket belongs to the event loop that connects it
    // the warm-up's own loopback server (WarmupRoute) speaks neither TLS nor the PROXY protocol
    boolean local = resolver.inProcess(params.to());
    context.runOnContext(v -> link.open(netClient, targets.get(i), settings.connectTimeoutMs(), local ? UpstreamSecurity.OFF : settings.security(),
        local ? ProxyProtocol.OFF : settings.proxyProtocol()).onComplete(opened));
    return opened.future()
        .map(o -> new Connected(link, o))
        .recover(e -> {
          if (!(e instanceof BoshException be)) {
            return Future.failedFuture(e);
          }
          if (be.condition() == TerminateCondition.REMOTE_CONNECTION_FAILED && i + 1 < targets.size()) {
            return connect(context, sid, stream, params, client, targets, i + 1);
          }
          Matcher m = SEE_OTHER_HOST.matcher(be.children());
          SocketAddress other = be.condition() == TerminateCondition.REMOTE_STREAM_ERROR && targets.size() < MAX_TARGETS && m.find()
              ? resolver.redirect(m.group(1)) : null;
          if (other != null && !targets.contains(other)) {
            log.info("sid={} server sent see-other-host {}; connecting there", sid, other);
            List<SocketAddress> next = new ArrayList<>(targets.subList(0, i + 1));
            next.add(other);
            return connect(context, sid, stream, params, client, next, i + 1);
          }
          return Future.failedFuture(e);
        });
  }
}
