package io.xbosh.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A vhost of its own with users of its own on the system RabbitMQ (127.0.0.1:5672), made with
 * {@code rabbitmqctl} and deleted on close, so tests never touch what others use there. Each
 * {@code rabbitmqctl} call takes seconds (an Erlang node starts): independent calls run at once.
 */
public final class RabbitMq implements AutoCloseable {

  public static final int SYSTEM_PORT = 5672;

  private final String vhost;
  private final List<String> users = new ArrayList<>();

  private RabbitMq(String vhost) {
    this.vhost = vhost;
  }

  /** A fresh vhost with these users, each with every permission there; {@code users} alternate name, password. */
  public static RabbitMq withUsers(String... namesAndPasswords) throws IOException, InterruptedException {
    RabbitMq r = new RabbitMq("xbosh-test-" + UUID.randomUUID().toString().substring(0, 8));
    ctl("add_vhost", r.vhost);
    try {
      List<CompletableFuture<String>> adds = new ArrayList<>();
      for (int i = 0; i < namesAndPasswords.length; i += 2) {
        String name = namesAndPasswords[i];
        String pw = namesAndPasswords[i + 1];
        r.users.add(name);
        adds.add(async(() -> {
          addOrReset(name, pw);
          return ctl("set_permissions", "-p", r.vhost, name, ".*", ".*", ".*");
        }));
      }
      for (CompletableFuture<String> f : adds) {
        f.get(120, TimeUnit.SECONDS);
      }
    } catch (Exception e) {
      r.close();
      throw new IOException("setting up RabbitMQ users failed", e);
    }
    return r;
  }

  /**
   * Users are the broker's, not the vhost's: one left behind by a run that was killed before its
   * clean-up gets the password this run expects instead of failing the run.
   */
  private static void addOrReset(String name, String pw) throws IOException, InterruptedException {
    try {
      ctl("add_user", name, pw);
    } catch (IOException e) {
      if (!e.getMessage().contains("already exists")) {
        throw e;
      }
      ctl("change_password", name, pw);
    }
  }

  public String vhost() {
    return vhost;
  }

  /** {@code amqp://127.0.0.1:5672/vhost}. */
  public String uri() {
    return "amqp://127.0.0.1:" + SYSTEM_PORT + "/" + vhost;
  }

  /** The names of the queues of the vhost with their message counts, one {@code name<TAB>count} a line. */
  public String queues() throws IOException, InterruptedException {
    return ctl("list_queues", "-p", vhost, "--quiet", "--no-table-headers", "name", "messages", "durable");
  }

  @Override
  public void close() {
    List<CompletableFuture<String>> dels = new ArrayList<>();
    dels.add(async(() -> ctl("delete_vhost", vhost)));
    for (String u : users) {
      dels.add(async(() -> ctl("delete_user", u)));
    }
    for (CompletableFuture<String> f : dels) {
      try {
        f.get(120, TimeUnit.SECONDS);
      } catch (Exception ignored) {
        // best effort
      }
    }
  }

  private interface Call {
    String run() throws IOException, InterruptedException;
  }

  private static CompletableFuture<String> async(Call c) {
    return CompletableFuture.supplyAsync(() -> {
      try {
        return c.run();
      } catch (IOException | InterruptedException e) {
        throw new IllegalStateException(e.getMessage(), e);
      }
    });
  }

  /** {@code rabbitmqctl} on the system node. */
  public static String ctl(String... args) throws IOException, InterruptedException {
    return run("rabbitmqctl", null, args);
  }

  static String run(String ctl, String node, String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(ctl));
    if (node != null) {
      cmd.addAll(List.of("-n", node));
    }
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(90, TimeUnit.SECONDS) || p.exitValue() != 0) {
      p.destroyForcibly();
      throw new IOException(String.join(" ", cmd) + " failed: " + out);
    }
    return out;
  }
}
