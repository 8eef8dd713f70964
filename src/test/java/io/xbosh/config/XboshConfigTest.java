package io.xbosh.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

class XboshConfigTest {

  @Test
  void defaults() {
    XboshConfig c = XboshConfig.from(Map.of());
    assertThat(c.httpPort()).isEqualTo(5280);
    assertThat(c.httpPath()).isEqualTo("/http-bind");
    assertThat(c.redisUrl()).isNull();
    assertThat(c.upstream()).isEqualTo(new XboshConfig.HostPort("127.0.0.1", 5222));
    assertThat(c.nodeId()).matches("[A-Za-z0-9._-]+");
  }

  @Test
  void everyBadValueIsReportedAtOnce() {
    assertThatThrownBy(() -> XboshConfig.from(Map.of(
        "XBOSH_HTTP_PORT", "eighty",
        "XBOSH_UPSTREAM", "nohost",
        "XBOSH_NODE_ID", "bad id!",
        "XBOSH_REDIS_URL", "http://x")))
        .hasMessageContaining("XBOSH_HTTP_PORT='eighty': not a whole number")
        .hasMessageContaining("XBOSH_UPSTREAM='nohost'")
        .hasMessageContaining("XBOSH_NODE_ID='bad id!'")
        .hasMessageContaining("XBOSH_REDIS_URL='http://x'");
  }

  @Test
  void hostMapAndDomains() {
    XboshConfig c = XboshConfig.from(Map.of(
        "XBOSH_UPSTREAM_HOSTS", "a.example=10.0.0.1:5222, B.example=[::1]:5223",
        "XBOSH_DOMAINS", "a.example,b.example"));
    assertThat(c.upstreamHosts()).containsEntry("a.example", new XboshConfig.HostPort("10.0.0.1", 5222))
        .containsEntry("b.example", new XboshConfig.HostPort("::1", 5223));
    assertThat(c.domains()).containsExactlyInAnyOrder("a.example", "b.example");
  }

  @Test
  void helpListsEveryVariable() {
    String help = XboshConfig.help();
    XboshConfig.VARIABLES.forEach(v -> assertThat(help).contains(v.name()));
  }
}
