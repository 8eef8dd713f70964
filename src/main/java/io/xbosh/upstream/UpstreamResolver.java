package io.xbosh.upstream;

import io.vertx.core.Future;
import io.vertx.core.net.SocketAddress;
import java.util.List;

/**
 * Picks the XMPP server for a new session from its {@code to} domain and {@code route} attribute
 * (XEP-0124 §7.1). Fails with a {@link io.xbosh.protocol.BoshException}: {@code host-unknown} for a
 * domain or route xbosh will not serve. Never blocks.
 */
public interface UpstreamResolver {

  /** @return the servers to try, in order (more than one from SRV records) */
  Future<List<SocketAddress>> resolve(String domain, String route);

  /**
   * RFC 6120 §4.9.3.19: the server answered the stream header with {@code see-other-host}. Returns
   * where to connect instead when the operator admits that host, else null (the client then gets
   * the stream error as {@code remote-stream-error}).
   *
   * @param value the element's text: {@code host}, {@code host:port} or {@code [v6]:port}
   */
  default SocketAddress redirect(String value) {
    return null;
  }

  /**
   * Whether {@code domain} is served by this process's own warm-up server on loopback
   * ({@code io.xbosh.warmup.WarmupRoute}): its links are plain and carry no PROXY protocol header,
   * and its sessions' creations are not counted against the client address's creation rate.
   */
  default boolean inProcess(String domain) {
    return false;
  }
}
