package io.xbosh;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Keeps docs/CONFORMANCE.md true: every checklist id has a row, and every test a row names exists and carries the id. */
class ConformanceDocTest {

  /** The ids of the BOSH conformance checklist. */
  static final List<String> IDS = Stream.of(
      IntStream.rangeClosed(1, 8), IntStream.rangeClosed(10, 31), IntStream.rangeClosed(40, 45), IntStream.rangeClosed(50, 55),
      IntStream.rangeClosed(60, 62), IntStream.of(70), IntStream.rangeClosed(80, 82), IntStream.rangeClosed(90, 92))
      .flatMap(s -> s.mapToObj(i -> String.format("B-%02d", i)))
      .filter(id -> !id.equals("B-09"))
      .collect(java.util.stream.Collectors.toCollection(ArrayList::new));

  static {
    IDS.addAll(List.of("X-01", "X-02", "X-03", "X-04"));
    // RFC 7395, XMPP over WebSocket
    IntStream.rangeClosed(1, 13).mapToObj(i -> String.format("W-%02d", i)).forEach(IDS::add);
    // XEP-0025, Jabber HTTP Polling
    IntStream.rangeClosed(1, 14).mapToObj(i -> String.format("P-%02d", i)).forEach(IDS::add);
  }

  static final Pattern ROW = Pattern.compile("^\\| ([BXWP]-\\d\\d) \\| ([MSO]) \\| (done|partial|not built) \\|\\s*([^|]*?)\\s*\\|\\s*([^|]*?)\\s*\\|$");

  record Row(String id, String status, List<String> tests, String notes) {
  }

  static Map<String, Row> rows() throws IOException {
    Map<String, Row> rows = new LinkedHashMap<>();
    for (String line : Files.readAllLines(Path.of("docs/CONFORMANCE.md"))) {
      if (!line.matches("^\\| [BXWP]-\\d\\d .*")) {
        continue;
      }
      Matcher m = ROW.matcher(line);
      assertThat(m.matches()).as("malformed row: %s", line).isTrue();
      List<String> tests = m.group(4).isBlank() ? List.of() : List.of(m.group(4).trim().split(",\\s*"));
      assertThat(rows.put(m.group(1), new Row(m.group(1), m.group(3), tests, m.group(5).trim()))).as("duplicate row " + m.group(1)).isNull();
    }
    return rows;
  }

  /** Test method names per test class, read from the sources (contract classes are abstract). */
  static Map<String, String> testSources() throws IOException {
    Map<String, String> sources = new HashMap<>();
    try (Stream<Path> files = Files.walk(Path.of("src/test/java"))) {
      for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
        sources.put(f.getFileName().toString().replace(".java", ""), Files.readString(f));
      }
    }
    return sources;
  }

  @Test
  void everyChecklistIdHasARow() throws IOException {
    assertThat(rows().keySet()).containsExactlyInAnyOrderElementsOf(IDS);
  }

  @Test
  void everyNamedTestExistsAndCarriesTheId() throws IOException {
    Map<String, String> sources = testSources();
    for (Row row : rows().values()) {
      if (!row.status().equals("not built")) {
        assertThat(row.tests()).as(row.id() + " is " + row.status() + " but names no test").isNotEmpty();
      } else {
        assertThat(row.notes()).as(row.id() + " is not built: say why").isNotBlank();
      }
      if (row.status().equals("partial")) {
        assertThat(row.notes()).as(row.id() + " is partial: say what is missing").isNotBlank();
      }
      for (String test : row.tests()) {
        String[] parts = test.split("#");
        assertThat(parts).as(test).hasSize(2);
        String source = sources.get(parts[0]);
        assertThat(source).as("test class " + parts[0] + " for " + row.id()).isNotNull();
        assertThat(source).as(test + " for " + row.id()).contains(" void " + parts[1] + "(");
        String id = row.id().toLowerCase(Locale.ROOT).replace("-", "");
        assertThat(parts[1]).as(test + " should carry " + row.id()).containsPattern("(^|_)" + id + "_");
      }
    }
  }
}
