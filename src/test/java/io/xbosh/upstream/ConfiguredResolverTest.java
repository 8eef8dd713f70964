package io.xbosh.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.dns.SrvRecord;
import io.vertx.core.net.SocketAddress;
import java.util.List;
import org.junit.jupiter.api.RepeatedTest;

class ConfiguredResolverTest {

  static SrvRecord srv(int priority, int weight, String target, int port) {
    return new SrvRecord() {
      public int priority() { return priority; }
      public long ttl() { return 60; }
      public int weight() { return weight; }
      public int port() { return port; }
      public String name() { return "_xmpp-client._tcp.example.org"; }
      public String protocol() { return "_tcp"; }
      public String service() { return "_xmpp-client"; }
      public String target() { return target; }
    };
  }

  /** RFC 2782: every record of a lower priority before any of a higher one; trailing dots dropped. */
  @RepeatedTest(20)
  void b15_srvRecordsOrderedByPriorityThenWeight() {
    List<SocketAddress> order = ConfiguredResolver.order(List.of(
        srv(20, 0, "backup.example.org.", 5222), srv(10, 60, "a.example.org.", 5222), srv(10, 40, "b.example.org.", 5223)));
    assertThat(order).hasSize(3);
    assertThat(order.subList(0, 2)).extracting(SocketAddress::host).containsExactlyInAnyOrder("a.example.org", "b.example.org");
    assertThat(order.get(2).host()).isEqualTo("backup.example.org");
    assertThat(order).extracting(SocketAddress::port).contains(5223);
  }
}
