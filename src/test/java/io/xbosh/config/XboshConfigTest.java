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
    assertThat(c.redisLoopConnections()).isFalse();
    assertThat(XboshConfig.from(Map.of("XBOSH_REDIS_LOOP_CONNECTIONS", "true")).redisLoopConnections()).isTrue();
  }

  @Test
  void eventLoopsDefaultToOneCoreFewerThanTheJvmSees() {
    assertThat(XboshConfig.defaultEventLoops(1)).isEqualTo(1);
    assertThat(XboshConfig.defaultEventLoops(2)).isEqualTo(1);
    assertThat(XboshConfig.defaultEventLoops(4)).isEqualTo(3);
    assertThat(XboshConfig.from(Map.of()).eventLoops())
        .isEqualTo(Math.max(1, Runtime.getRuntime().availableProcessors() - 1));
    assertThat(XboshConfig.from(Map.of("XBOSH_EVENT_LOOPS", "2")).eventLoops()).isEqualTo(2);
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
  void aRedisPasswordIsNeverEchoed() throws Exception {
    assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_REDIS_URL", "redis://xbosh:hunter2@redis:6379/0,http://x")))
        .hasMessageContaining("XBOSH_REDIS_URL='redis://xbosh:***@redis:6379/0,http://x'")
        .satisfies(e -> assertThat(e.getMessage()).doesNotContain("hunter2"));
    assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_REDIS_URL", "redis://redis:6379?password=hunter2&db=1,bad")))
        .satisfies(e -> assertThat(e.getMessage()).doesNotContain("hunter2"));
    Path file = Files.createTempFile("xbosh", ".pw");
    try {
      Files.writeString(file, "hunter2\n");
      XboshConfig c = XboshConfig.from(Map.of("XBOSH_REDIS_URL", "rediss://redis:6380", "XBOSH_REDIS_PASSWORD_FILE", file.toString(),
          "XBOSH_REDIS_USER", "xbosh"));
      // the trailing newline of a mounted Secret is not part of the password; printing the config hides it
      assertThat(c.redisPassword().value()).isEqualTo("hunter2");
      assertThat(c.toString()).doesNotContain("hunter2");
      assertThat(c.redisTls()).isTrue();
      assertThat(c.redisTlsVerifyHost()).isTrue();
      assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_REDIS_URL", "redis://redis", "XBOSH_REDIS_PASSWORD", "hunter2",
          "XBOSH_REDIS_PASSWORD_FILE", file.toString())))
          .hasMessageContaining("XBOSH_REDIS_PASSWORD and XBOSH_REDIS_PASSWORD_FILE: set one of them")
          .satisfies(e -> assertThat(e.getMessage()).doesNotContain("hunter2"));
      assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_REDIS_URL", "redis://u:p@redis", "XBOSH_REDIS_PASSWORD", "hunter2")))
          .hasMessageContaining("XBOSH_REDIS_URL has a password and XBOSH_REDIS_PASSWORD(_FILE) is set");
    } finally {
      Files.delete(file);
    }
  }

  @Test
  void redisTlsAndSentinelSettingsAreChecked() throws Exception {
    Path pem = Files.createTempFile("xbosh", ".pem");
    try {
      assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_REDIS_URL", "redis://a:6379", "XBOSH_REDIS_TLS_CA", pem.toString())))
          .hasMessageContaining("XBOSH_REDIS_TLS_CA and XBOSH_REDIS_TLS_CERT need rediss:// URLs");
      assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_REDIS_URL", "rediss://a:6379,redis://b:6379")))
          .hasMessageContaining("either every URL is rediss:// (TLS) or none is");
      assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_REDIS_URL", "rediss://a:6379", "XBOSH_REDIS_TLS_CERT", pem.toString(),
          "XBOSH_REDIS_TLS_VERIFY_HOST", "no")))
          .hasMessageContaining("XBOSH_REDIS_TLS_CERT and XBOSH_REDIS_TLS_KEY go together")
          .hasMessageContaining("XBOSH_REDIS_TLS_VERIFY_HOST='no': must be true or false");
      assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_REDIS_URL", "redis://a:26379", "XBOSH_REDIS_SENTINEL", "m",
          "XBOSH_REDIS_CLUSTER", "true")))
          .hasMessageContaining("XBOSH_REDIS_CLUSTER and XBOSH_REDIS_SENTINEL: set one of them");
      assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_REDIS_SENTINEL", "m")))
          .hasMessageContaining("Redis settings (cluster, sentinel, user, password, TLS) need XBOSH_REDIS_URL");
      XboshConfig c = XboshConfig.from(Map.of("XBOSH_REDIS_URL", "redis://s1:26379,redis://s2:26379", "XBOSH_REDIS_SENTINEL", "mymaster"));
      assertThat(c.redisSentinelMaster()).isEqualTo("mymaster");
      assertThat(c.redisUrls()).containsExactly("redis://s1:26379", "redis://s2:26379");
    } finally {
      Files.delete(pem);
    }
  }

  @Test
  void logSettingsAreCheckedAndMisspeltVariablesNamed() {
    assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_LOG_FORMAT", "yaml", "XBOSH_LOG_LEVEL", "verbose")))
        .hasMessageContaining("XBOSH_LOG_FORMAT='yaml': must be text or json")
        .hasMessageContaining("XBOSH_LOG_LEVEL='verbose': must be TRACE, DEBUG, INFO, WARN, ERROR or OFF");
    assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_LOG_FORMAT", "JSON"))).hasMessageContaining("(lower case)");
    XboshConfig.from(Map.of("XBOSH_LOG_FORMAT", "json", "XBOSH_LOG_LEVEL", "debug"));
    assertThat(XboshConfig.unknownVariables(Map.of("XBOSH_MAX_WIAT", "30", "XBOSH_HTTP_PORT", "1", "XBOSH_SOMETHING_ELSE", "x",
        "PATH", "/bin")))
        .containsExactly("XBOSH_MAX_WIAT is not a setting of xbosh (did you mean XBOSH_MAX_WAIT?); it is ignored",
            "XBOSH_SOMETHING_ELSE is not a setting of xbosh; it is ignored");
  }

  @Test
  void theAdminApiNeedsItsOwnPortAndALongToken() throws Exception {
    Path token = Files.createTempFile("xbosh", ".token");
    try {
      Files.writeString(token, "short\n");
      assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_ADMIN_TOKEN_FILE", token.toString())))
          .hasMessageContaining("at least 16 characters")
          .satisfies(e -> assertThat(e.getMessage()).doesNotContain("short\n"));
      Files.writeString(token, "0123456789abcdef0123\n");
      assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_ADMIN_TOKEN_FILE", token.toString())))
          .hasMessageContaining("XBOSH_ADMIN_TOKEN_FILE needs XBOSH_MANAGEMENT_PORT");
      assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_MANAGEMENT_PORT", "5280")))
          .hasMessageContaining("XBOSH_MANAGEMENT_PORT must differ from XBOSH_HTTP_PORT");
      XboshConfig c = XboshConfig.from(Map.of("XBOSH_MANAGEMENT_PORT", "9090", "XBOSH_ADMIN_TOKEN_FILE", token.toString()));
      assertThat(c.adminToken().value()).isEqualTo("0123456789abcdef0123");
      assertThat(c.separateManagement()).isTrue();
      assertThat(XboshConfig.from(Map.of()).separateManagement()).isFalse();
    } finally {
      Files.delete(token);
    }
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
  void httpPollingEndpointOffUnlessSetAndItsPathChecked() {
    assertThat(XboshConfig.from(Map.of()).pollPath()).isNull();
    assertThat(XboshConfig.from(Map.of("XBOSH_POLL_PATH", "")).pollPath()).isNull();
    assertThat(XboshConfig.from(Map.of("XBOSH_POLL_PATH", "off")).pollPath()).isNull();
    assertThat(XboshConfig.from(Map.of("XBOSH_POLL_PATH", "on")).pollPath()).isEqualTo("/http-poll");
    assertThat(XboshConfig.from(Map.of("XBOSH_POLL_PATH", "/legacy/poll")).pollPath()).isEqualTo("/legacy/poll");
    assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_POLL_PATH", "poll")))
        .hasMessageContaining("XBOSH_POLL_PATH='poll': must be on, off, or a path starting with /");
    assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_POLL_PATH", "/a b")))
        .hasMessageContaining("XBOSH_POLL_PATH='/a b'");
    assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_POLL_PATH", "/http-bind")))
        .hasMessageContaining("XBOSH_POLL_PATH must differ from XBOSH_HTTP_PATH and XBOSH_WS_PATH");
    assertThatThrownBy(() -> XboshConfig.from(Map.of("XBOSH_POLL_PATH", "/xmpp-websocket")))
        .hasMessageContaining("XBOSH_POLL_PATH must differ");
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
    Pattern name = Pattern.compile("XBOSH_[A-Z0-9_]+[A-Z0-9]");
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
