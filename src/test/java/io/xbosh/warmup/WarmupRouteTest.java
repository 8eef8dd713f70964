package io.xbosh.warmup;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Future;
import io.vertx.core.net.SocketAddress;
import io.xbosh.upstream.UpstreamResolver;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;

class WarmupRouteTest {

  private static final SocketAddress REAL = SocketAddress.inetSocketAddress(5222, "xmpp.example");
  private static final SocketAddress LOOPBACK = SocketAddress.inetSocketAddress(40000, "127.0.0.1");
  private static final UpstreamResolver CONFIGURED = (domain, route) -> Future.succeededFuture(List.of(REAL));

  private static SocketAddress resolve(UpstreamResolver r, String domain) {
    return r.resolve(domain, null).result().get(0);
  }

  @Test
  void theWarmUpDomainReachesTheLoopbackServerOnlyWhileTheWarmUpRuns() {
    WarmupRoute route = new WarmupRoute(CONFIGURED);
    String domain = route.domain();
    assertThat(domain).matches("w[0-9a-f]{32}\\.warmup\\.invalid");
    // before and after the warm-up: the configured resolver, as for every domain
    assertThat(route.inProcess(domain)).isFalse();
    assertThat(resolve(route, domain)).isEqualTo(REAL);
    route.serve(LOOPBACK);
    assertThat(route.inProcess(domain)).isTrue();
    assertThat(route.inProcess(domain.toUpperCase(Locale.ROOT))).isTrue();
    assertThat(resolve(route, domain)).isEqualTo(LOOPBACK);
    assertThat(route.inProcess("example.com")).isFalse();
    assertThat(resolve(route, "example.com")).isEqualTo(REAL);
    assertThat(route.inProcess("warmup.invalid")).isFalse();
    route.serve(null);
    assertThat(route.inProcess(domain)).isFalse();
    assertThat(resolve(route, domain)).isEqualTo(REAL);
  }

  @Test
  void everyPodDrawsItsOwnDomain() {
    assertThat(new WarmupRoute(CONFIGURED).domain()).isNotEqualTo(new WarmupRoute(CONFIGURED).domain());
  }

  @Test
  void theWarmUpReachesAWildcardListenerOnLoopback() {
    assertThat(Warmup.listenerHost("0.0.0.0")).isEqualTo("127.0.0.1");
    assertThat(Warmup.listenerHost("::")).isEqualTo("127.0.0.1");
    assertThat(Warmup.listenerHost("10.1.2.3")).isEqualTo("10.1.2.3");
    assertThat(Warmup.listenerHost("fd00::5")).isEqualTo("[fd00::5]");
  }

  @Test
  void theLoopbackServerNamesWhoLoggedIn() {
    String auth = java.util.Base64.getEncoder().encodeToString("\0alice\0pw".getBytes(java.nio.charset.StandardCharsets.UTF_8));
    assertThat(WarmupXmppServer.plainUser("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth>"))
        .isEqualTo("alice");
    assertThat(WarmupXmppServer.plainUser("<auth mechanism='PLAIN'>!!</auth>")).isEqualTo("anonymous");
  }
}
