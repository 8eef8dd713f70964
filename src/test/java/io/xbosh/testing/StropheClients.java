package io.xbosh.testing;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * Strophe.js 5 clients in Node ({@code src/test/js/strophe-driver.cjs}, one process for any number
 * of named connections), talking BOSH like a browser page would. The npm packages, pinned in
 * {@code src/test/js/strophe/package.json}, are installed under {@code target/strophe} on first
 * use ({@code npm install --prefer-offline}: later runs from npm's cache). Skips the calling test
 * where node or npm is missing.
 */
public final class StropheClients implements AutoCloseable {

  private static final Path DIR = Path.of("target", "strophe").toAbsolutePath();
  private static final Path JS = Path.of("src", "test", "js").toAbsolutePath();

  private final Process process;
  private final Writer commands;
  private final List<JsonObject> events = new ArrayList<>();
  private final StringBuffer errors = new StringBuffer();

  private StropheClients(Process process) {
    this.process = process;
    this.commands = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
    Thread pump = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          JsonObject ev;
          try {
            ev = new JsonObject(line);
          } catch (RuntimeException e) {
            errors.append(line).append('\n');
            continue;
          }
          synchronized (events) {
            events.add(ev);
          }
        }
      } catch (IOException ignored) {
        // driver ended
      }
    }, "strophe-driver-output");
    pump.setDaemon(true);
    pump.start();
    await().atMost(Duration.ofSeconds(30)).until(() -> !find(e -> e.getString("ev").equals("ready")).isEmpty() || !process.isAlive());
    if (!process.isAlive()) {
      throw new IllegalStateException("the Strophe driver did not start:\n" + errors);
    }
  }

  public static StropheClients start() throws IOException, InterruptedException {
    Path node = onPath("node");
    assumeTrue(node != null, "node not found on PATH (apt-get install nodejs npm): Strophe test skipped");
    install();
    Path log = DIR.resolve("driver-" + ProcessHandle.current().pid() + ".log");
    ProcessBuilder pb = new ProcessBuilder(node.toString(), JS.resolve("strophe-driver.cjs").toString(), DIR.toString())
        .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()));
    return new StropheClients(pb.start());
  }

  private static synchronized void install() throws IOException, InterruptedException {
    Files.createDirectories(DIR);
    Path pkg = JS.resolve("strophe").resolve("package.json");
    Path installed = DIR.resolve("package.json");
    if (Files.exists(DIR.resolve("node_modules/strophe.js/package.json")) && Files.exists(installed)
        && Files.readString(installed).equals(Files.readString(pkg))) {
      return;
    }
    Path npm = onPath("npm");
    assumeTrue(npm != null, "npm not found on PATH (apt-get install npm) to install Strophe.js: Strophe test skipped");
    Files.copy(pkg, installed, StandardCopyOption.REPLACE_EXISTING);
    Process p = new ProcessBuilder(npm.toString(), "install", "--prefer-offline", "--no-audit", "--no-fund", "--silent")
        .directory(DIR.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0) {
      p.destroyForcibly();
      Files.deleteIfExists(installed);
      throw new IOException("npm install of the Strophe driver's packages failed:\n" + out);
    }
  }

  /** Connects client {@code c} (a new Strophe connection) with this JID and password. */
  public void connect(String c, String bosh, String jid, String password) throws IOException {
    send(new JsonObject().put("op", "connect").put("c", c).put("bosh", bosh).put("jid", jid).put("password", password));
  }

  /**
   * Connects client {@code c} offering only these SASL mechanisms (names such as {@code PLAIN});
   * a {@code ws://} service URL makes it an RFC 7395 WebSocket connection. Each {@code <auth/>}
   * it sends is reported as an {@code auth} event with its {@code mechanism}.
   */
  public void connect(String c, String service, String jid, String password, List<String> mechanisms) throws IOException {
    send(new JsonObject().put("op", "connect").put("c", c).put("bosh", service).put("jid", jid).put("password", password)
        .put("mechanisms", new io.vertx.core.json.JsonArray(mechanisms)));
  }

  /** Sends a chat message with a body. */
  public void message(String c, String to, String id, String body) throws IOException {
    send(new JsonObject().put("op", "send").put("c", c).put("to", to).put("id", id).put("body", body));
  }

  /** Sends an iq with one empty child and waits for its answer (the result or error stanza as the client got it). */
  public JsonObject iq(String c, String type, String to, String name, String xmlns) throws IOException {
    String tag = c + "-" + System.nanoTime();
    JsonObject cmd = new JsonObject().put("op", "iq").put("c", c).put("tag", tag).put("type", type).put("name", name).put("xmlns", xmlns);
    if (to != null) {
      cmd.put("to", to);
    }
    send(cmd);
    return awaitEvent(e -> "iq".equals(e.getString("ev")) && tag.equals(e.getString("tag")), Duration.ofSeconds(30));
  }

  public void disconnect(String c) throws IOException {
    send(new JsonObject().put("op", "disconnect").put("c", c));
  }

  /** Waits for client {@code c} to report a Strophe status (CONNECTED, AUTHFAIL, DISCONNECTED ...). */
  public JsonObject awaitStatus(String c, String status, Duration within) {
    return awaitEvent(e -> "status".equals(e.getString("ev")) && c.equals(e.getString("c")) && status.equals(e.getString("status")), within);
  }

  public JsonObject awaitEvent(Predicate<JsonObject> p, Duration within) {
    await().atMost(within).pollInterval(Duration.ofMillis(50)).until(() -> !find(p).isEmpty() || !process.isAlive());
    List<JsonObject> found = find(p);
    if (found.isEmpty()) {
      throw new IllegalStateException("the Strophe driver ended:\n" + errors);
    }
    return found.get(0);
  }

  /** The messages client {@code c} received, in order. */
  public List<JsonObject> messages(String c) {
    return find(e -> "message".equals(e.getString("ev")) && c.equals(e.getString("c")));
  }

  /** Every status client {@code c} reported, in order. */
  public List<String> statuses(String c) {
    return find(e -> "status".equals(e.getString("ev")) && c.equals(e.getString("c"))).stream().map(e -> e.getString("status")).toList();
  }

  public List<JsonObject> find(Predicate<JsonObject> p) {
    synchronized (events) {
      return events.stream().filter(p).toList();
    }
  }

  private synchronized void send(JsonObject cmd) throws IOException {
    commands.write(cmd.encode() + "\n");
    commands.flush();
  }

  @Override
  public void close() {
    process.destroy();
    try {
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      process.destroyForcibly();
    }
  }

  private static Path onPath(String name) {
    for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
      Path p = Path.of(d, name);
      if (!d.isEmpty() && Files.isExecutable(p)) {
        return p;
      }
    }
    return null;
  }
}
