package io.xbosh.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;

/**
 * A process a test starts (redis-server, prosody): started with its output piped, considered ready
 * when a line of its output satisfies a condition, and destroyed on close.
 */
public class ExternalProcess implements AutoCloseable {

  private final String name;
  private final Process process;
  private final StringBuffer output = new StringBuffer();

  protected ExternalProcess(String name, List<String> command, Predicate<String> ready, long timeoutMs) throws IOException {
    this(name, command, Map.of(), ready, timeoutMs);
  }

  protected ExternalProcess(String name, List<String> command, Map<String, String> env, Predicate<String> ready, long timeoutMs)
      throws IOException {
    this.name = name;
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.environment().putAll(env);
    this.process = pb.start();
    CompletableFuture<Void> readiness = new CompletableFuture<>();
    Thread pump = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          output.append(line).append('\n');
          if (ready.test(line)) {
            readiness.complete(null);
          }
        }
      } catch (IOException ignored) {
        // process ended
      }
      readiness.completeExceptionally(new IOException(name + " exited before it was ready:\n" + output));
    }, name + "-output");
    pump.setDaemon(true);
    pump.start();
    try {
      readiness.get(timeoutMs, TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      close();
      throw new IOException(name + " not ready within " + timeoutMs + " ms:\n" + output);
    } catch (Exception e) {
      close();
      throw new IOException(e.getCause() != null ? e.getCause().getMessage() : e.getMessage(), e);
    }
  }

  public String output() {
    return output.toString();
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  /** A TCP port free at the time of the call. */
  public static int freePort() {
    try (ServerSocket s = new ServerSocket(0)) {
      s.setReuseAddress(true);
      return s.getLocalPort();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** SIGKILL: the process gets no chance to clean up. */
  public void kill() throws InterruptedException {
    process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
  }

  /** SIGSTOP: the process is frozen (no thread runs, sockets stay open) until {@link #thaw}. */
  public void freeze() throws IOException, InterruptedException {
    signal("STOP");
  }

  /** SIGCONT after {@link #freeze}. */
  public void thaw() throws IOException, InterruptedException {
    signal("CONT");
  }

  /** The operating system's id of the process. */
  public long pid() {
    return process.pid();
  }

  /**
   * Sends a signal by name ({@code STOP}, {@code CONT}, {@code KILL}...) with {@code kill(1)}:
   * SIGSTOP freezes the process as a stalled VM or a long GC pause would.
   */
  public void signal(String name) throws IOException, InterruptedException {
    Process k = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).redirectErrorStream(true).start();
    String out = new String(k.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!k.waitFor(10, TimeUnit.SECONDS) || k.exitValue() != 0) {
      throw new IOException("kill -" + name + " " + process.pid() + " failed: " + out);
    }
  }

  /** SIGTERM, without waiting for the process to end. */
  public void terminate() {
    process.destroy();
  }

  /** Waits for the process to end. */
  public boolean awaitExit(long timeoutMs) throws InterruptedException {
    return process.waitFor(timeoutMs, TimeUnit.MILLISECONDS);
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
}
