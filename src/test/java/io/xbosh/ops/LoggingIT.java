package io.xbosh.ops;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.xbosh.testing.BoshSession;
import io.xbosh.testing.InProcessXbosh;
import io.xbosh.testing.ProsodyProcess;
import java.net.http.HttpClient;
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
    prosody = ProsodyProcess.start(Map.of("erin", PASSWORD, "fred", PASSWORD, "gina", PASSWORD, "hugo", PASSWORD));
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
}
