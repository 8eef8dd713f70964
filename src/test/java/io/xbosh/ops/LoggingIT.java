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
import org.slf4j.LoggerFactory;

/** What xbosh logs, even at TRACE where every payload is logged: never a password. */
class LoggingIT {

  private static final String PASSWORD = "S3cret-Pa55word";

  private static ProsodyProcess prosody;
  private static InProcessXbosh xbosh;

  @BeforeAll
  static void start() throws Exception {
    prosody = ProsodyProcess.start(Map.of("erin", PASSWORD));
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
}
