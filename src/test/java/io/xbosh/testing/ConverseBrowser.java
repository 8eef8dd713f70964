package io.xbosh.testing;

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
import java.security.MessageDigest;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Converse.js in Debian's Chromium, driven by playwright-core through {@code src/test/js/converse-driver.mjs}
 * (one JSON command a line). The driver serves the page on a loopback port of its own: another origin
 * than xbosh, as a web chat is deployed.
 *
 * <p>Both npm packages are pinned by version and by the registry's sha512 integrity, fetched with
 * {@code npm pack} (which keeps them in npm's cache, so later runs work offline) and unpacked under
 * {@code target/browser/}. Where Chromium, node or npm cannot be found, the test is skipped (a JUnit
 * assumption that names what is missing).
 */
public final class ConverseBrowser implements AutoCloseable {

  public static final String CONVERSE = "converse.js@14.0.0";
  public static final String CONVERSE_SHA512 =
      "LFUg030jDalV47vI/vyVPqYPZfJYXFbubq8v0cFDe2zXNeeGEk3Up0Fj/WTzT6t+6do+cAIToy73eAj7RNDj2Q==";
  public static final String PLAYWRIGHT = "playwright-core@1.65.1";
  public static final String PLAYWRIGHT_SHA512 =
      "hqPpz7blSMPxWVdoeE1yiBSzXsKiVOd2k+kjCvmUywD2GPO2Dd9HfcWnq9NN0GHbNZDFgZ9JfBFr+X5/BLo0qw==";

  private static final Path DIR = Path.of("target", "browser").toAbsolutePath();
  private static final Path JS = Path.of("src", "test", "js");
  private static final long CALL_TIMEOUT_MS = 90_000;

  private final Process process;
  private final Writer commands;
  private final BlockingQueue<String> answers = new LinkedBlockingQueue<>();
  private final Path log;
  private final String origin;
  private int nextId;

  private ConverseBrowser(Process process, Path log) throws IOException {
    this.process = process;
    this.log = log;
    this.commands = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
    Thread pump = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          answers.add(line);
        }
      } catch (IOException ignored) {
        // driver ended
      }
      answers.add("{\"ended\":true}");
    }, "converse-driver-output");
    pump.setDaemon(true);
    pump.start();
    JsonObject ready = next(60_000);
    if (!ready.getBoolean("ready", false)) {
      close();
      throw new IOException("the browser driver did not start: " + ready.encode() + "\n" + log());
    }
    this.origin = ready.getString("origin");
  }

  /**
   * Starts Chromium with the driver, installing the npm packages first where needed; skips the
   * calling test where Chromium, node or npm is missing.
   */
  public static ConverseBrowser start() throws IOException, InterruptedException {
    String missing = missing();
    assumeTrue(missing == null, missing);
    Path chromium = chromium();
    Path node = onPath("node");
    Path playwright = unpacked(PLAYWRIGHT, PLAYWRIGHT_SHA512, "package.json");
    Path converse = unpacked(CONVERSE, CONVERSE_SHA512, "dist/converse.min.js");
    Path log = DIR.resolve("converse-" + ProcessHandle.current().pid() + ".log");
    Files.deleteIfExists(log);
    ProcessBuilder pb = new ProcessBuilder(node.toString(), JS.resolve("converse-driver.mjs").toString(),
        playwright.toAbsolutePath().toString(), converse.toAbsolutePath().toString(),
        JS.resolve("converse.html").toAbsolutePath().toString(), chromium.toString(), log.toAbsolutePath().toString())
        .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()));
    // Chromium's profile and Playwright's artifacts: under target/ even if a run is cut short
    Path tmp = Files.createDirectories(DIR.resolve("tmp"));
    pb.environment().put("TMPDIR", tmp.toString());
    return new ConverseBrowser(pb.start(), log);
  }

  /**
   * Why the browser test cannot run on this machine (Chromium, node, or npm while the packages are
   * not unpacked yet, is missing), or null when it can.
   */
  public static String missing() {
    Path chromium = chromium();
    if (!Files.isExecutable(chromium)) {
      return "Chromium not found at " + chromium + " (apt-get install chromium, or set TEST_CHROMIUM): browser test skipped";
    }
    if (onPath("node") == null) {
      return "node not found on PATH (apt-get install nodejs npm): browser test skipped";
    }
    boolean unpacked = Files.exists(DIR.resolve(PLAYWRIGHT.replace('@', '-')).resolve("package.json"))
        && Files.exists(DIR.resolve(CONVERSE.replace('@', '-')).resolve("dist/converse.min.js"));
    if (!unpacked && onPath("npm") == null) {
      return "npm not found on PATH (apt-get install npm) to fetch " + PLAYWRIGHT + " and " + CONVERSE + ": browser test skipped";
    }
    return null;
  }

  private static Path chromium() {
    return Path.of(System.getenv().getOrDefault("TEST_CHROMIUM", "/usr/bin/chromium"));
  }

  /** The origin the page is served from (for XBOSH_CORS_ORIGINS). */
  public String origin() {
    return origin;
  }

  /** Opens Converse for {@code user} in a browser context of its own, talking BOSH to {@code bosh}. */
  public void open(String user, String bosh) throws IOException {
    call("open", Map.of("user", user, "bosh", bosh));
  }

  /** Opens Converse for {@code user} in a browser context of its own, talking XMPP over WebSocket (RFC 7395) to {@code ws}. */
  public void openWebSocket(String user, String ws) throws IOException {
    call("open", Map.of("user", user, "ws", ws));
  }

  /** Types the address and password into Converse's login form and submits it. */
  public void login(String user, String jid, String password) throws IOException {
    call("login", Map.of("user", user, "jid", jid, "password", password));
  }

  /**
   * What the page shows and knows of its connection: {@code connected}, {@code sid}, {@code rid},
   * {@code service} (the BOSH or WebSocket URL it talks to), {@code loginForm} (whether the login
   * form is on screen), {@code feedback} (its message).
   */
  public JsonObject state(String user) throws IOException {
    return (JsonObject) call("state", Map.of("user", user));
  }

  public void openChat(String user, String with) throws IOException {
    call("openChat", Map.of("user", user, "with", with));
  }

  /**
   * Types a message into the chat with {@code with} and presses Enter; returns once the BOSH
   * request (or WebSocket message) carrying it has gone out.
   */
  public void send(String user, String with, String text) throws IOException {
    call("send", Map.of("user", user, "with", with, "text", text));
  }

  /**
   * Like {@link #send}, and waits until the page has sent its next request too: the request that
   * carried the message was answered (the server held it until something came for the page, such
   * as the message's receipt), so the page is back to holding an empty request, as a page is
   * almost all of the time.
   */
  public void sendAndSettle(String user, String with, String text) throws IOException {
    call("send", Map.of("user", user, "with", with, "text", text, "settled", true));
  }

  /** The message texts on screen in the chat with {@code with}, top to bottom. */
  public List<String> shown(String user, String with) throws IOException {
    return ((io.vertx.core.json.JsonArray) call("shown", Map.of("user", user, "with", with)))
        .stream().map(String::valueOf).toList();
  }

  /** The terminate bodies the page has received from the BOSH endpoint, oldest first. */
  public List<String> terminations(String user) throws IOException {
    return ((io.vertx.core.json.JsonArray) call("terminations", Map.of("user", user)))
        .stream().map(String::valueOf).toList();
  }

  /** Converse's own view of a contact's presence: online, offline, away... */
  public String presence(String user, String of) throws IOException {
    return String.valueOf(call("presence", Map.of("user", user, "of", of)));
  }

  public void reload(String user) throws IOException {
    call("reload", Map.of("user", user));
  }

  public void screenshot(String user, Path png) throws IOException {
    call("screenshot", Map.of("user", user, "path", png.toAbsolutePath().toString()));
  }

  /** The driver's log: the pages' console, failed requests, driver errors. */
  public String log() {
    try {
      return Files.exists(log) ? Files.readString(log) : "";
    } catch (IOException e) {
      return e.toString();
    }
  }

  private synchronized Object call(String cmd, Map<String, Object> args) throws IOException {
    int id = ++nextId;
    JsonObject msg = new JsonObject(new java.util.HashMap<>(args)).put("cmd", cmd).put("id", id);
    commands.write(msg.encode() + "\n");
    commands.flush();
    JsonObject answer = next(CALL_TIMEOUT_MS);
    if (answer.getInteger("id", -1) != id || !answer.getBoolean("ok", false)) {
      throw new IOException(cmd + " failed: " + answer.getString("error", answer.encode()));
    }
    return answer.getValue("value");
  }

  private JsonObject next(long timeoutMs) throws IOException {
    try {
      String line = answers.poll(timeoutMs, TimeUnit.MILLISECONDS);
      if (line == null) {
        throw new IOException("the browser driver did not answer within " + timeoutMs + " ms");
      }
      if (!line.startsWith("{")) {
        throw new IOException("the browser driver printed " + line);
      }
      return new JsonObject(line);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(e);
    }
  }

  @Override
  public void close() {
    try {
      commands.close(); // the driver closes the browser and exits at the end of its input
    } catch (IOException ignored) {
      // already gone
    }
    try {
      if (!process.waitFor(20, TimeUnit.SECONDS)) {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      process.descendants().forEach(ProcessHandle::destroyForcibly);
      process.destroyForcibly();
    }
  }

  // ---- installation

  /**
   * The unpacked npm package {@code spec} under target/browser, fetched with {@code npm pack}
   * (from npm's cache when it holds it) and checked against its sha512 unless already there.
   */
  private static synchronized Path unpacked(String spec, String sha512, String marker) throws IOException, InterruptedException {
    Path dest = DIR.resolve(spec.replace('@', '-'));
    if (Files.exists(dest.resolve(marker))) {
      return dest;
    }
    Path npm = onPath("npm");
    assumeTrue(npm != null, "npm not found on PATH (apt-get install npm) and " + spec + " not yet unpacked in "
        + DIR + ": browser test skipped");
    Files.createDirectories(DIR);
    Path work = Files.createTempDirectory(DIR, "npm-pack");
    try {
      run(List.of(npm.toString(), "pack", spec, "--prefer-offline", "--silent", "--pack-destination", work.toString()), DIR);
      Path tarball;
      try (Stream<Path> files = Files.list(work)) {
        tarball = files.filter(p -> p.toString().endsWith(".tgz")).findFirst()
            .orElseThrow(() -> new IOException("npm pack " + spec + " left no tarball"));
      }
      String got = Base64.getEncoder().encodeToString(
          MessageDigest.getInstance("SHA-512").digest(Files.readAllBytes(tarball)));
      if (!got.equals(sha512)) {
        throw new IOException(spec + ": sha512 " + got + " is not the pinned " + sha512);
      }
      Path tree = Files.createDirectories(work.resolve("tree"));
      run(List.of("tar", "xzf", tarball.toString(), "-C", tree.toString(), "--strip-components=1"), DIR);
      Files.move(tree, dest, StandardCopyOption.ATOMIC_MOVE);
      return dest;
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    } finally {
      delete(work);
    }
  }

  private static void run(List<String> command, Path dir) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0) {
      p.destroyForcibly();
      throw new IOException(String.join(" ", command) + " failed:\n" + out);
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

  private static void delete(Path dir) {
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException ignored) {
      // best effort
    }
  }
}
