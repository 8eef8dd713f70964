package io.xbosh.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A certificate authority of its own, made by openssl in a temporary directory, that issues server
 * and client certificates; {@link #close} deletes every file.
 */
public final class TestAuthority implements AutoCloseable {

  /** An issued certificate and its key, PEM files. */
  public record Issued(Path cert, Path key) {
  }

  private final Path dir;
  private final Path caCert;
  private final Path caKey;
  private int serial;

  private TestAuthority(Path dir) {
    this.dir = dir;
    this.caCert = dir.resolve("ca.pem");
    this.caKey = dir.resolve("ca-key.pem");
  }

  public static TestAuthority create(String name) throws IOException {
    TestAuthority ca = new TestAuthority(Files.createTempDirectory("xbosh-ca"));
    try {
      run(ca.dir, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=" + name,
          "-keyout", ca.caKey.toString(), "-out", ca.caCert.toString());
      return ca;
    } catch (IOException | RuntimeException e) {
      ca.close();
      throw e;
    }
  }

  /** The CA's certificate: the trust bundle of whoever trusts this authority. */
  public Path cert() {
    return caCert;
  }

  /** A certificate for {@code cn} with these subjectAltName entries (e.g. {@code DNS:localhost}, {@code IP:127.0.0.1}). */
  public Issued issue(String cn, String... altNames) throws IOException {
    String n = "c" + (++serial);
    Path key = dir.resolve(n + "-key.pem");
    Path csr = dir.resolve(n + ".csr");
    Path cert = dir.resolve(n + ".pem");
    Path ext = dir.resolve(n + ".ext");
    List<String> lines = new ArrayList<>(List.of("basicConstraints=CA:FALSE", "extendedKeyUsage=serverAuth,clientAuth"));
    if (altNames.length > 0) {
      lines.add("subjectAltName=" + String.join(",", altNames));
    }
    Files.write(ext, lines, StandardCharsets.UTF_8);
    run(dir, "openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn, "-keyout", key.toString(),
        "-out", csr.toString());
    run(dir, "openssl", "x509", "-req", "-in", csr.toString(), "-CA", caCert.toString(), "-CAkey", caKey.toString(),
        "-CAcreateserial", "-days", "2", "-extfile", ext.toString(), "-out", cert.toString());
    return new Issued(cert, key);
  }

  /** A file in this authority's directory, deleted with it. */
  public Path file(String name, String content) throws IOException {
    return Files.writeString(dir.resolve(name), content, StandardCharsets.UTF_8);
  }

  private static void run(Path dir, String... command) throws IOException {
    Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new IOException(String.join(" ", command) + " failed:\n" + out);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(e);
    }
  }

  @Override
  public void close() {
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path f : files.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(f);
      }
    } catch (IOException ignored) {
      // a temporary directory left behind is harmless
    }
  }
}
