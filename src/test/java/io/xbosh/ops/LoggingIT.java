package io.xbosh.ops;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.vertx.core.json.JsonObject;
import io.xbosh.testing.BoshSession;
import io.xbosh.testing.InProcessXbosh;
import io.xbosh.testing.ProsodyProcess;
import io.xbosh.testing.XboshProcess;
import java.net.ServerSocket;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.concurrent.TimeUnit;
import static org.awaitility.Awaitility.await;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.slf4j.LoggerFactory;

/** What xbosh logs, even at TRACE where every payload is logged: never a password. */
class LoggingIT {

  private static final String PASSWORD = "S3cret-Pa55word";

  private static ProsodyProcess prosody;
  private static InProcessXbosh xbosh;

  @BeforeAll
  static void start() throws Exception {
    prosody = ProsodyProcess.start(Map.of("erin", PASSWORD, "fred", PASSWORD, "gina", PASSWORD, "hugo", PASSWORD, "frank", "frankpw"));
    xbosh = InProcessXbosh.start(Map.of("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(), "XBOSH_NODE_ID", "log-pod"));
  }

  @AfterAll
  static void stop() throws Exception {
    if (xbosh != null) {
      xbosh.close();
    }
    if (prosody != null) {
      prosody.close();
    }
  }

  @Test
  void saslCredentialsNeverReachTheLogsEvenAtTrace() throws Exception {
    Logger root = (Logger) LoggerFactory.getLogger(Logger.ROOT_LOGGER_NAME);
    Logger xboshLogger = (Logger) LoggerFactory.getLogger("io.xbosh");
    ListAppender<ILoggingEvent> captured = new ListAppender<>();
    captured.start();
    root.addAppender(captured);
    Level previous = xboshLogger.getLevel();
    xboshLogger.setLevel(Level.TRACE);
    String sid;
    try {
      HttpClient http = HttpClient.newHttpClient();
      BoshSession s = BoshSession.login(http, List.of(xbosh.endpoint()), ProsodyProcess.DOMAIN, "erin", PASSWORD, "logs");
      sid = s.sid;
      BoshSession.pingResult(s, ProsodyProcess.DOMAIN, "l1");
    } finally {
      xboshLogger.setLevel(previous);
      root.detachAppender(captured);
    }
    String base64 = Base64.getEncoder().encodeToString(("\0erin\0" + PASSWORD).getBytes(StandardCharsets.UTF_8));
    List<String> lines = captured.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
    // the payloads were logged (so the check below means something) ...
    assertThat(lines).anyMatch(l -> l.contains("to server") && l.contains("<auth"));
    assertThat(lines).anyMatch(l -> l.contains("sid=" + sid));
    // ... but never the credentials
    assertThat(lines).noneMatch(l -> l.contains(PASSWORD) || l.contains(base64));
  }

  /**
   * Rule 7 of "Limits and abuse" (docs/ARCHITECTURE.md): SASL is recognised by namespace, whatever
   * the prefix, in both directions, also when the element is split over script-syntax requests
   * (XEP-0252).
   */
  @ParameterizedTest
  @CsvSource({
      "fred, prefixed",
      "gina, declaredOnBody",
      "hugo, splitOverGets",
  })
  void saslIsRedactedByNamespaceWhateverItsSpelling(String user, String form) throws Exception {
    String base64 = Base64.getEncoder().encodeToString(("\0" + user + "\0" + PASSWORD).getBytes(StandardCharsets.UTF_8));
    Logger root = (Logger) LoggerFactory.getLogger(Logger.ROOT_LOGGER_NAME);
    Logger xboshLogger = (Logger) LoggerFactory.getLogger("io.xbosh");
    ListAppender<ILoggingEvent> captured = new ListAppender<>();
    captured.start();
    root.addAppender(captured);
    Level previous = xboshLogger.getLevel();
    xboshLogger.setLevel(Level.TRACE);
    String answers;
    try {
      HttpClient http = HttpClient.newHttpClient();
      long rid = 3000;
      String created = BoshSession.post(http, xbosh.endpoint(), "<body " + BoshSession.B + " " + BoshSession.X + " rid='" + rid
          + "' to='" + ProsodyProcess.DOMAIN + "' wait='5' hold='1' ver='1.11' xmpp:version='1.0'/>").body();
      String sid = BoshSession.attr(created, "sid");
      String sasl = "urn:ietf:params:xml:ns:xmpp-sasl";
      answers = switch (form) {
        case "prefixed" -> BoshSession.post(http, xbosh.endpoint(), "<body " + BoshSession.B + " sid='" + sid + "' rid='" + (rid + 1)
            + "'><sasl:auth xmlns:sasl='" + sasl + "' mechanism='PLAIN'>" + base64 + "</sasl:auth></body>").body();
        case "declaredOnBody" -> BoshSession.post(http, xbosh.endpoint(), "<body " + BoshSession.B + " xmlns:s='" + sasl + "' sid='" + sid
            + "' rid='" + (rid + 1) + "'><s:auth mechanism='PLAIN'>" + base64 + "</s:auth></body>").body();
        default -> {
          var first = scriptGet(http, "<body " + BoshSession.B + " sid='" + sid + "' rid='" + (rid + 1) + "'><sasl:auth xmlns:sasl='"
              + sasl + "' mechanism='PLAIN'>" + base64.substring(0, 8) + "</body>");
          String second = scriptGet(http, "<body " + BoshSession.B + " sid='" + sid + "' rid='" + (rid + 2) + "'>" + base64.substring(8)
              + "</sasl:auth></body>").get(30, java.util.concurrent.TimeUnit.SECONDS).body();
          String both = first.get(30, java.util.concurrent.TimeUnit.SECONDS).body() + second;
          yield both.contains("<success") ? both
              : both + scriptGet(http, "<body " + BoshSession.B + " sid='" + sid + "' rid='" + (rid + 3) + "'/>")
                  .get(30, java.util.concurrent.TimeUnit.SECONDS).body();
        }
      };
    } finally {
      xboshLogger.setLevel(previous);
      root.detachAppender(captured);
    }
    // the login worked, so both directions were logged ...
    assertThat(answers).contains("success");
    List<String> lines = captured.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
    assertThat(lines).anyMatch(l -> l.contains("to server") && l.contains(":auth"));
    assertThat(lines).anyMatch(l -> l.contains("from server") && l.contains("<success"));
    // ... and no piece of the credentials
    assertThat(lines).noneMatch(l -> l.contains(PASSWORD) || l.contains(base64) || l.contains(base64.substring(0, 8))
        || l.contains(base64.substring(8)));
  }

  private static java.util.concurrent.CompletableFuture<java.net.http.HttpResponse<String>> scriptGet(HttpClient http, String body) {
    StringBuilder q = new StringBuilder();
    for (byte b : body.getBytes(StandardCharsets.UTF_8)) {
      int c = b & 0xff;
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        q.append((char) c);
      } else {
        q.append('%').append(String.format("%02X", c));
      }
    }
    return http.sendAsync(java.net.http.HttpRequest.newBuilder(java.net.URI.create(xbosh.endpoint() + "?" + q)).GET().build(),
        java.net.http.HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  /** Captures what every logger writes while {@code body} runs. */
  private static List<ILoggingEvent> capture(ThrowingConsumer body) throws Exception {
    Logger root = (Logger) LoggerFactory.getLogger(Logger.ROOT_LOGGER_NAME);
    ListAppender<ILoggingEvent> captured = new ListAppender<>();
    captured.start();
    root.addAppender(captured);
    try {
      body.run(captured.list);
    } finally {
      root.detachAppender(captured);
    }
    return captured.list;
  }

  private interface ThrowingConsumer {
    void run(List<ILoggingEvent> sofar) throws Exception;
  }

  private static List<ILoggingEvent> endLines(List<ILoggingEvent> events, String sid) {
    return events.stream().filter(e -> e.getFormattedMessage().startsWith("sid=" + sid + " session ended")).toList();
  }

  /** Creates a session with one raw request carrying these headers, then ends it with a client terminate. */
  private static String createAndTerminate(URI endpoint, String... headers) throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    long rid = 5000;
    HttpRequest.Builder create = HttpRequest.newBuilder(endpoint).header("Content-Type", "text/xml; charset=utf-8")
        .POST(HttpRequest.BodyPublishers.ofString("<body " + BoshSession.B + " " + BoshSession.X + " rid='" + rid + "' to='"
            + ProsodyProcess.DOMAIN + "' xml:lang='en' wait='2' hold='1' ver='1.11' xmpp:version='1.0'/>"));
    if (headers.length > 0) {
      create.headers(headers);
    }
    String created = http.send(create.build(), HttpResponse.BodyHandlers.ofString()).body();
    String sid = BoshSession.attr(created, "sid");
    assertThat(sid).isNotNull();
    String bye = BoshSession.post(http, endpoint, "<body " + BoshSession.B + " sid='" + sid + "' rid='" + (rid + 1)
        + "' type='terminate'/>").body();
    assertThat(bye).contains("type=\"terminate\"");
    return sid;
  }

  /** One line per session end, on the owner, with its condition, duration, streams and client address; sid in the MDC. */
  @Test
  void everySessionEndIsOneLineWithConditionDurationStreamsAndClient() throws Exception {
    String[] sid = new String[1];
    List<ILoggingEvent> events = capture(sofar -> {
      // a client's X-Forwarded-For is not believed without XBOSH_TRUST_FORWARDED_FOR
      sid[0] = createAndTerminate(xbosh.endpoint(), "X-Forwarded-For", "198.51.100.7");
      await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() -> !endLines(List.copyOf(sofar), sid[0]).isEmpty());
    });
    List<ILoggingEvent> ends = endLines(events, sid[0]);
    assertThat(ends).hasSize(1);
    assertThat(ends.get(0).getFormattedMessage())
        .matches("sid=" + sid[0] + " session ended condition=client duration_ms=\\d+ streams=1 client=127\\.0\\.0\\.1");
    assertThat(ends.get(0).getMDCPropertyMap()).containsEntry("sid", sid[0]);
    // a line that is not about a session carries no sid
    assertThat(events).filteredOn(e -> !e.getFormattedMessage().startsWith("sid="))
        .allSatisfy(e -> assertThat(e.getMDCPropertyMap()).doesNotContainKey("sid"));

    Map<String, String> env = new HashMap<>(Map.of("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(), "XBOSH_TRUST_FORWARDED_FOR", "true"));
    try (InProcessXbosh behindProxy = InProcessXbosh.start(env)) {
      List<ILoggingEvent> proxied = capture(sofar -> {
        sid[0] = createAndTerminate(behindProxy.endpoint(), "X-Forwarded-For", "203.0.113.9, 198.51.100.7");
        await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() -> !endLines(List.copyOf(sofar), sid[0]).isEmpty());
      });
      // the entry the trusted proxy appended, not what the client claimed before it
      assertThat(endLines(proxied, sid[0])).singleElement().satisfies(e -> assertThat(e.getFormattedMessage()).endsWith(" client=198.51.100.7"));
    }
  }

  /** The jar as deployed: JSON lines, each with the pod id, and the sid on lines about a session. */
  @Test
  void jsonLinesCarryPodAndSidAsFields() throws Exception {
    Map<String, String> env = new HashMap<>(Map.of("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(), "XBOSH_LOG_FORMAT", "json",
        "XBOSH_REDIS_PASWORD", "misspelt"));
    try (XboshProcess pod = XboshProcess.start("json-pod", env)) {
      BoshSession s = BoshSession.login(HttpClient.newHttpClient(), List.of(pod.endpoint()), ProsodyProcess.DOMAIN, "frank", "frankpw", "json");
      s.sendBody("type='terminate'", "");
      await().atMost(Duration.ofSeconds(10)).until(() -> pod.output().contains("session ended"));
      List<JsonObject> lines = pod.output().lines().filter(l -> l.startsWith("{")).map(JsonObject::new).toList();
      assertThat(lines).isNotEmpty().allSatisfy(l -> assertThat(l.getJsonObject("mdc").getString("pod")).isEqualTo("json-pod"));
      assertThat(lines).filteredOn(l -> l.getString("formattedMessage").contains("session ended"))
          .singleElement().satisfies(l -> assertThat(l.getJsonObject("mdc").getString("sid")).isEqualTo(s.sid));
      // a misspelt setting is named, with the one it probably meant
      assertThat(lines).anyMatch(l -> "WARN".equals(l.getString("level"))
          && l.getString("formattedMessage").contains("XBOSH_REDIS_PASWORD is not a setting of xbosh (did you mean XBOSH_REDIS_PASSWORD?)"));
    }
  }

  /** A port in use: one line that names the address, exit code 1, no stack trace. */
  @Test
  void addressInUseIsOneLineNamingTheAddress() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar",
          "target/xbosh.jar").redirectErrorStream(true);
      pb.environment().put("XBOSH_HTTP_HOST", "127.0.0.1");
      pb.environment().put("XBOSH_HTTP_PORT", Integer.toString(taken.getLocalPort()));
      pb.environment().put("XBOSH_EVENT_LOOPS", "2");
      Process p = pb.start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
      assertThat(p.exitValue()).isEqualTo(1);
      assertThat(out).contains("cannot listen on 127.0.0.1:" + taken.getLocalPort() + ": Address already in use")
          .doesNotContain("Exception").doesNotContain("\tat ");
    }
  }
}
