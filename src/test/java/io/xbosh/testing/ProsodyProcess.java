package io.xbosh.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A throwaway Prosody on free loopback ports: c2s for xbosh, its own mod_bosh for comparison, plain
 * authentication allowed, users written as account files before start.
 */
public final class ProsodyProcess extends ExternalProcess {

  public static final String DOMAIN = "localhost";

  private final Path dir;
  private final int c2sPort;
  private final int httpPort;

  private ProsodyProcess(Path dir, Path config, int c2sPort, int httpPort) throws IOException {
    super("prosody", List.of("prosody", "--config", config.toString()),
        line -> line.contains("Activated service 'c2s' on"), 30_000);
    this.dir = dir;
    this.c2sPort = c2sPort;
    this.httpPort = httpPort;
  }

  /** Starts Prosody with these users (name → password). */
  public static ProsodyProcess start(Map<String, String> users) throws IOException {
    return start(users, null);
  }

  /**
   * TLS settings of a Prosody that offers STARTTLS with a certificate for {@link #DOMAIN}.
   *
   * @param cert           PEM certificate
   * @param key            PEM private key
   * @param requireTls     whether clients must use it (c2s_require_encryption)
   * @param directTlsPort  a port for TLS from the first byte, or 0 for none
   */
  public record Tls(Path cert, Path key, boolean requireTls, int directTlsPort) {
  }

  /** Starts Prosody with these users and, unless null, TLS. */
  public static ProsodyProcess start(Map<String, String> users, Tls tls) throws IOException {
    return start(users, tls, false);
  }

  /**
   * Starts Prosody as web chat clients such as Converse.js expect it: these users, each with every
   * other one in its roster (subscription both), the blocking command and PEP (without them
   * Converse.js opens no chat), offline storage (messages to a user who is between sessions
   * wait for the next one) and hashed passwords, as on a production server.
   */
  public static ProsodyProcess startForWebClients(Map<String, String> users) throws IOException {
    return start(users, null, true);
  }

  private static ProsodyProcess start(Map<String, String> users, Tls tls, boolean webClients) throws IOException {
    Path dir = Files.createTempDirectory("xbosh-prosody");
    Path accounts = dir.resolve("data").resolve(DOMAIN).resolve("accounts");
    Files.createDirectories(accounts);
    for (var u : users.entrySet()) {
      Files.writeString(accounts.resolve(u.getKey() + ".dat"),
          webClients ? hashedAccount(u.getKey(), u.getValue()) : "return {\n\t[\"password\"] = \"" + u.getValue() + "\";\n};\n",
          StandardCharsets.UTF_8);
    }
    if (webClients) {
      writeRosters(dir.resolve("data").resolve(DOMAIN).resolve("roster"), users.keySet());
    }
    int c2s = freePort();
    int http = freePort();
    String cfg = """
        daemonize = false
        run_as_root = true
        pidfile = "%1$s/prosody.pid"
        data_path = "%1$s/data"
        log = { { levels = { min = "info" }, to = "console" } }
        interfaces = { "127.0.0.1" }
        c2s_ports = { %2$d }
        c2s_direct_tls_ports = { %5$s }
        legacy_ssl_ports = { }
        s2s_ports = { }
        http_ports = { %3$d }
        http_interfaces = { "127.0.0.1" }
        https_ports = { }
        modules_enabled = { "roster", "saslauth", %8$s"disco", "ping", "bosh", "smacks", "posix"%9$s }
        modules_disabled = { "s2s" }
        c2s_require_encryption = %6$s
        %7$s
        allow_unencrypted_plain_auth = true
        authentication = "%10$s"
        consider_bosh_secure = true
        cross_domain_bosh = true
        bosh_max_inactivity = 60
        limits = { c2s = { rate = "100mb/s" } }
        VirtualHost "%4$s"
        """.formatted(dir, c2s, http, DOMAIN,
            tls != null && tls.directTlsPort() > 0 ? Integer.toString(tls.directTlsPort()) : "",
            tls != null && tls.requireTls(),
            tls == null ? "" : "ssl = { certificate = \"" + tls.cert() + "\"; key = \"" + tls.key() + "\"; }\n"
                + "certificates = \"" + dir.resolve("certs") + "\"",
            // without TLS settings no STARTTLS at all (Debian's package ships a snakeoil certificate)
            tls == null ? "" : "\"tls\", ",
            webClients ? ", \"blocklist\", \"pep\", \"offline\"" : "",
            webClients ? "internal_hashed" : "internal_plain");
    if (tls != null) {
      // Prosody finds a host's certificate by name in its certificates directory
      Files.createDirectories(dir.resolve("certs"));
      Files.copy(tls.cert(), dir.resolve("certs").resolve(DOMAIN + ".crt"));
      Files.copy(tls.key(), dir.resolve("certs").resolve(DOMAIN + ".key"));
    }
    Path config = dir.resolve("prosody.cfg.lua");
    Files.writeString(config, cfg, StandardCharsets.UTF_8);
    return new ProsodyProcess(dir, config, c2s, http);
  }

  /**
   * An account of Prosody's internal_hashed storage (SCRAM-SHA-1 keys, RFC 5802), as production
   * servers keep them. Unlike internal_plain, which draws a new salt at every login, it keeps one
   * salt, so a client that saved its SCRAM keys (Converse.js after a page reload) can log in again.
   */
  private static String hashedAccount(String name, String password) {
    try {
      int iterations = 4096;
      byte[] salt = ("xbosh-test-" + name).getBytes(StandardCharsets.UTF_8);
      javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA1");
      mac.init(new javax.crypto.spec.SecretKeySpec(password.getBytes(StandardCharsets.UTF_8), "HmacSHA1"));
      byte[] u = mac.doFinal(java.nio.ByteBuffer.allocate(salt.length + 4).put(salt).putInt(1).array());
      byte[] salted = u.clone();
      for (int i = 1; i < iterations; i++) {
        u = mac.doFinal(u);
        for (int j = 0; j < salted.length; j++) {
          salted[j] ^= u[j];
        }
      }
      mac.init(new javax.crypto.spec.SecretKeySpec(salted, "HmacSHA1"));
      byte[] clientKey = mac.doFinal("Client Key".getBytes(StandardCharsets.UTF_8));
      byte[] serverKey = mac.doFinal("Server Key".getBytes(StandardCharsets.UTF_8));
      byte[] storedKey = java.security.MessageDigest.getInstance("SHA-1").digest(clientKey);
      java.util.HexFormat hex = java.util.HexFormat.of();
      return "return {\n\t[\"iteration_count\"] = " + iterations + ";\n\t[\"salt\"] = \"" + new String(salt, StandardCharsets.UTF_8)
          + "\";\n\t[\"stored_key\"] = \"" + hex.formatHex(storedKey) + "\";\n\t[\"server_key\"] = \""
          + hex.formatHex(serverKey) + "\";\n};\n";
    } catch (java.security.GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Prosody's roster storage (internal): each user has every other one, both subscribed. */
  private static void writeRosters(Path rosters, java.util.Set<String> names) throws IOException {
    Files.createDirectories(rosters);
    for (String owner : names) {
      StringBuilder roster = new StringBuilder("return {\n\t[false] = { [\"version\"] = 1; };\n");
      for (String contact : names) {
        if (!contact.equals(owner)) {
          roster.append("\t[\"").append(contact).append('@').append(DOMAIN)
              .append("\"] = { [\"subscription\"] = \"both\"; [\"groups\"] = {}; [\"name\"] = \"")
              .append(contact).append("\"; };\n");
        }
      }
      Files.writeString(rosters.resolve(owner + ".dat"), roster.append("};\n"), StandardCharsets.UTF_8);
    }
  }

  public int c2sPort() {
    return c2sPort;
  }

  /** Prosody's own BOSH endpoint. */
  public String boshUrl() {
    return "http://127.0.0.1:" + httpPort + "/http-bind";
  }

  @Override
  public void close() {
    super.close();
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException ignored) {
      // temp dir; best effort
    }
  }
}
