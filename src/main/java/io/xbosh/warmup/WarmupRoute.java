package io.xbosh.warmup;

import io.vertx.core.Future;
import io.vertx.core.net.SocketAddress;
import io.xbosh.upstream.UpstreamResolver;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;

/**
 * The pod's upstream resolver with one addition: while a warm-up runs, one domain, drawn at
 * random when the pod starts ({@code w<32 hex digits>.warmup.invalid}: 128 bits, a reserved top
 * level domain, never written anywhere a client could read it), resolves to the warm-up's own XMPP
 * server on loopback ({@link WarmupXmppServer}). Every other domain, and that one once the warm-up
 * is over, goes to the configured resolver as before. So the warm-up's sessions take the path of
 * real ones (listener, handler, store, connector, upstream link) and still never reach the real
 * XMPP server; the links to the loopback server are plain, without a PROXY protocol header
 * ({@link #inProcess}).
 *
 * <p>Sessions of the warm-up domain get ids no client session can have ({@link #sid}), so the
 * warm-up can delete what they left in the store afterwards without any risk to a real session.
 */
public final class WarmupRoute implements UpstreamResolver {

  /** Begins every warm-up session id; a client session's id is 24 base64url characters, never a dot. */
  public static final String SID_PREFIX = io.xbosh.session.SessionStore.WARMUP_SID_PREFIX;
  private static final SecureRandom RANDOM = new SecureRandom();

  private final UpstreamResolver delegate;
  private final String domain;
  private volatile SocketAddress server;

  public WarmupRoute(UpstreamResolver delegate) {
    this.delegate = delegate;
    byte[] b = new byte[16];
    RANDOM.nextBytes(b);
    this.domain = "w" + HexFormat.of().formatHex(b) + ".warmup.invalid";
  }

  /** The domain the warm-up's sessions are created for. */
  public String domain() {
    return domain;
  }

  /** From now on the warm-up domain resolves to {@code server}; null: to nothing of the warm-up's (the configured resolver). */
  public void serve(SocketAddress server) {
    this.server = server;
  }

  @Override
  public boolean inProcess(String to) {
    return server != null && domain.equals(to.toLowerCase(Locale.ROOT));
  }

  @Override
  public Future<List<SocketAddress>> resolve(String to, String route) {
    SocketAddress s = server;
    if (s != null && domain.equals(to.toLowerCase(Locale.ROOT))) {
      return Future.succeededFuture(List.of(s));
    }
    return delegate.resolve(to, route);
  }

  @Override
  public SocketAddress redirect(String value) {
    return delegate.redirect(value);
  }
}
