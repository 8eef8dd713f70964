package io.xbosh.ops;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * README's test command passes on a fresh Debian machine as written: every program the tests start
 * is installed by .ci/run and named in README next to the command, with its Debian package.
 */
class TestPrerequisitesTest {

  /** Programs a test might start; each one found in the test sources must be provided. */
  private static final List<String> CANDIDATES = List.of("redis-server", "redis-cli", "redis-sentinel", "prosody",
      "prosodyctl", "haproxy", "dnsmasq", "openssl", "chromium", "node", "npm", "npx", "buildah", "podman", "docker", "ejabberd",
      "nginx", "kustomize", "kubectl");

  /** {@code command -v NAME ... need+=(PACKAGES)} lines of .ci/run. */
  private static Map<String, List<String>> installedByCi() throws IOException {
    Map<String, List<String>> out = new LinkedHashMap<>();
    Matcher m = Pattern.compile("command -v (\\S+) .*need\\+=\\(([^)]*)\\)").matcher(Files.readString(Path.of(".ci/run")));
    while (m.find()) {
      out.put(m.group(1), List.of(m.group(2).trim().split("\\s+")));
    }
    return out;
  }

  private static Set<String> startedByTests() throws IOException {
    Set<String> found = new TreeSet<>();
    try (Stream<Path> files = Files.walk(Path.of("src/test/java"))) {
      for (Path f : files.filter(p -> p.toString().endsWith(".java") && !p.endsWith("TestPrerequisitesTest.java")).toList()) {
        String src = Files.readString(f);
        for (String c : CANDIDATES) {
          if (src.contains("\"" + c + "\"")) {
            found.add(c);
          }
        }
      }
    }
    return found;
  }

  @Test
  void everyProgramTheTestsStartIsInstalledByCiAndNamedInReadme() throws IOException {
    Map<String, List<String>> ci = installedByCi();
    Set<String> used = startedByTests();
    assertThat(used).contains("redis-server", "redis-sentinel", "prosody", "openssl");
    // prosodyctl comes with prosody
    used.remove("prosodyctl");
    assertThat(ci.keySet()).containsAll(used);
    String readme = Files.readString(Path.of("README.md"));
    int command = readme.indexOf("```sh\nmvn -B verify\n```");
    assertThat(command).as("README's test command").isPositive();
    String nextToIt = readme.substring(command, readme.indexOf("\n## ", command));
    Matcher apt = Pattern.compile("apt-get install -y ([^`]+)`").matcher(nextToIt);
    assertThat(apt.find()).as("the apt-get line next to the test command").isTrue();
    List<String> aptPackages = List.of(apt.group(1).trim().split("\\s+"));
    for (Map.Entry<String, List<String>> e : ci.entrySet()) {
      if (!Set.of("java", "mvn").contains(e.getKey())) {
        assertThat(nextToIt).as("README names " + e.getKey()).contains("`" + e.getKey() + "`");
      }
      assertThat(aptPackages).as("README's apt-get line").containsAll(e.getValue());
    }
  }
}
