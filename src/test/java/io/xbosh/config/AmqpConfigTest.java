package io.xbosh.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** Brokers in XBOSH_UPSTREAM_HOSTS next to XMPP servers, and the XBOSH_AMQP_* bounds. */
class AmqpConfigTest {

  @Test
  void brokerEntriesGoToTheAmqpUpstreamAndServerEntriesStayWhereTheyWere() {
    XboshConfig c = XboshConfig.from(Map.of("XBOSH_UPSTREAM_HOSTS",
        "chat.example=10.0.0.1:5222, Notify.Example=amqp://mq.internal:5673/prod%2Fnotify,secure.example=amqps://mq.internal"));
    assertThat(c.upstreamHosts()).containsOnlyKeys("chat.example");
    assertThat(c.amqp().hosts()).containsOnlyKeys("notify.example", "secure.example");
    assertThat(c.amqp().hosts().get("notify.example")).isEqualTo(new AmqpConfig.Target(false, "mq.internal", 5673, "prod/notify"));
    assertThat(c.amqp().hosts().get("secure.example")).isEqualTo(new AmqpConfig.Target(true, "mq.internal", 5671, "/"));
    assertThat(c.amqp().prefetch()).isEqualTo(50);
    assertThat(c.amqp().reconnectSeconds()).isEqualTo(60);
  }

  @Test
  void boundsAreReadAndCheckedAndABadUriIsNamed() {
    XboshConfig c = XboshConfig.from(Map.of("XBOSH_AMQP_PREFETCH", "5", "XBOSH_AMQP_QUEUE_MAX", "100",
        "XBOSH_AMQP_OFFLINE_SECONDS", "3600", "XBOSH_AMQP_RECONNECT_SECONDS", "0"));
    assertThat(c.amqp()).isEqualTo(new AmqpConfig(Map.of(), null, 5, 3600, 100, 0));
    assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_AMQP_PREFETCH", "0"))).hasMessageContaining("XBOSH_AMQP_PREFETCH");
    assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_AMQP_CERT", "pom.xml")))
        .hasMessageContaining("XBOSH_AMQP_CERT and XBOSH_AMQP_KEY go together");
    assertThat(XboshConfig.from(Map.of("XBOSH_AMQP_CERT", "pom.xml", "XBOSH_AMQP_KEY", "README.md")).amqp().cert()).isEqualTo("pom.xml");
    assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_UPSTREAM_HOSTS", "n.example=amqp://user:s3cret@host/v")))
        .hasMessageContaining("XBOSH_UPSTREAM_HOSTS").hasMessageContaining("amqp://host[:port][/vhost]")
        .hasMessageContaining("amqp://user:***@host/v").hasMessageNotContaining("s3cret");
    // a bad XMPP entry next to a broker with a password does not print the password either
    assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_UPSTREAM_HOSTS", "x.example, n.example=amqp://user:s3cret@host/v")))
        .hasMessageContaining("XBOSH_UPSTREAM_HOSTS").hasMessageNotContaining("s3cret");
  }
}
