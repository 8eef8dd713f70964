package io.xbosh.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
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
  void corsOriginsAreOriginsOnly() {
    assertThat(XboshConfig.from(Map.of("XBOSH_CORS_ORIGINS", "https://a.example, http://b.example:8080")).corsOrigins())
        .containsExactlyInAnyOrder("https://a.example", "http://b.example:8080");
    assertThat(XboshConfig.from(Map.of()).corsOrigins()).isEmpty();
    assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_CORS_ORIGINS", "https://a.example/path")))
        .hasMessageContaining("XBOSH_CORS_ORIGINS");
  }

  @Test
  void httpsNeedsCertificateAndKeyTogetherAndStreamsABoundedLimit() throws Exception {
    java.nio.file.Path pem = java.nio.file.Files.createTempFile("xbosh", ".pem");
    try {
      assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_HTTP_TLS_CERT", pem.toString())))
          .hasMessageContaining("XBOSH_HTTP_TLS_CERT and XBOSH_HTTP_TLS_KEY go together");
      assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_HTTP_TLS_KEY", "/no/such/key.pem", "XBOSH_MAX_STREAMS", "0",
          "XBOSH_TRUST_FORWARDED_PROTO", "yes")))
          .hasMessageContaining("XBOSH_HTTP_TLS_KEY='/no/such/key.pem': not a readable file")
          .hasMessageContaining("XBOSH_MAX_STREAMS='0'")
          .hasMessageContaining("XBOSH_TRUST_FORWARDED_PROTO='yes': must be true or false");
      XboshConfig c = XboshConfig.from(Map.of("XBOSH_HTTP_TLS_CERT", pem.toString(), "XBOSH_HTTP_TLS_KEY", pem.toString()));
      org.assertj.core.api.Assertions.assertThat(c.httpTlsKey()).isEqualTo(pem.toString());
      org.assertj.core.api.Assertions.assertThat(c.maxStreams()).isEqualTo(4);
      org.assertj.core.api.Assertions.assertThat(c.trustForwardedProto()).isFalse();
    } finally {
      java.nio.file.Files.delete(pem);
    }
  }

  @Test
  void webSocketEndpointOnByDefaultOffWhenEmptyAndItsValuesChecked() {
    XboshConfig c = XboshConfig.from(Map.of());
    assertThat(c.wsPath()).isEqualTo("/xmpp-websocket");
    assertThat(c.wsMaxFrameBytes()).isEqualTo(65536);
    assertThat(c.wsPingSeconds()).isEqualTo(30);
    assertThat(c.wsSeeOtherUri()).isNull();
    assertThat(XboshConfig.from(Map.of("XBOSH_WS_PATH", "")).wsPath()).isNull();
    assertThat(XboshConfig.from(Map.of("XBOSH_WS_PATH", "off")).wsPath()).isNull();
    assertThat(XboshConfig.from(Map.of("XBOSH_WS_PATH", "/ws", "XBOSH_WS_SEE_OTHER_URI", "wss://chat.example.org/ws")).wsSeeOtherUri())
        .isEqualTo("wss://chat.example.org/ws");
    assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_WS_PATH", "ws", "XBOSH_WS_PING_SECONDS", "-1",
        "XBOSH_WS_MAX_FRAME_BYTES", "10", "XBOSH_WS_SEE_OTHER_URI", "https://x.example/\"><x")))
        .hasMessageContaining("XBOSH_WS_PATH='ws': must start with /")
        .hasMessageContaining("XBOSH_WS_PING_SECONDS='-1'")
        .hasMessageContaining("XBOSH_WS_MAX_FRAME_BYTES='10'")
        .hasMessageContaining("XBOSH_WS_SEE_OTHER_URI=");
    assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_WS_SEE_OTHER_URI", "wss://x.example/\"><x")))
        .hasMessageContaining("must be a URI without spaces, quotes, <, > or &");
    assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_WS_PATH", "/http-bind")))
        .hasMessageContaining("XBOSH_WS_PATH and XBOSH_HTTP_PATH must differ");
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

  /** Operators read the README: every variable the code knows has a row there, with its default. */
  @Test
  void readmeDocumentsEveryVariableWithItsDefault() throws IOException {
    String readme = Files.readString(Path.of("README.md"));
    for (XboshConfig.Variable v : XboshConfig.VARIABLES) {
      assertThat(readme).as(v.name()).containsPattern("\\| `" + v.name() + "` \\| [^|]*" + Pattern.quote(v.defaultValue().split(" ")[0].replace("(", "")));
    }
  }

  /** No variable is read anywhere without being declared (and so documented). */
  @Test
  void everyVariableNamedInTheSourcesIsDeclared() throws IOException {
    Set<String> named = new TreeSet<>();
    Pattern name = Pattern.compile("XBOSH_[A-Z_]+[A-Z]");
    try (Stream<Path> files = Files.walk(Path.of("src/main"))) {
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        Matcher m = name.matcher(Files.readString(f));
        while (m.find()) {
          named.add(m.group());
        }
      }
    }
    assertThat(named).isNotEmpty();
    assertThat(XboshConfig.VARIABLES.stream().map(XboshConfig.Variable::name)).containsAll(named);
  }
}
