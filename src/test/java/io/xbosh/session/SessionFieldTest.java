package io.xbosh.session;

import static org.assertj.core.api.Assertions.assertThat;

import io.xbosh.protocol.SessionParams;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The session's parameters as create.lua takes them: (name, value) pairs, by the hash's field names. */
class SessionFieldTest {

  private static SessionParams params(boolean ack, String ver) {
    return new SessionParams(60, 1, 2, 90, 3, ver, "text/xml; charset=utf-8", ack, "localhost", "en", null, null);
  }

  @Test
  void everyParameterGoesByItsFieldName() {
    SessionRecord r = new SessionRecord("sid", params(true, "1.11"), "pod-a", 1234, "ab12", "s0", true);
    assertThat(SessionField.createArguments(r)).containsExactly("1234", "hold", "1", "req", "2", "wait", "60",
        "inact", "90", "ack", "1", "ct", "text/xml; charset=utf-8", "leg", "0", "own", "pod-a", "k", "ab12", "pol", "3",
        "sf", "s0", "tls", "1");
  }

  @Test
  void fieldsAtTheirDefaultsAreNotWrittenExceptTheKey() {
    SessionRecord r = new SessionRecord("sid", params(false, null), "pod-b", Long.MAX_VALUE, null, null, false);
    assertThat(SessionField.createArguments(r)).containsExactly(Long.toString(Long.MAX_VALUE), "hold", "1", "req", "2",
        "wait", "60", "inact", "90", "ack", "0", "ct", "text/xml; charset=utf-8", "leg", "1", "own", "pod-b", "k", "", "pol", "3");
    assertThat(SessionField.createArguments(new SessionRecord("sid", params(false, null), "p", 1, null, "", false)))
        .doesNotContain("sf");
  }

  @Test
  void theScriptsReadEveryFieldCreationWrites() throws Exception {
    String prelude;
    try (var in = RedisSessionStore.class.getResourceAsStream("prelude.lua")) {
      prelude = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    List<String> read = names(prelude, "FIELDS");
    // the parameters: packed in p (read in their place), and their own fields for a session without p
    List<String> params = names(prelude, "PARAM_FIELDS");
    assertThat(read).contains("p");
    for (SessionField f : SessionField.values()) {
      assertThat(read.contains(f.field) || params.contains(f.field)).as(f.field + " in FIELDS or PARAM_FIELDS of prelude.lua").isTrue();
    }
    assertThat(read).doesNotHaveDuplicates();
    assertThat(params).doesNotHaveDuplicates().doesNotContainAnyElementsOf(read);
  }

  private static List<String> names(String prelude, String list) {
    Matcher m = Pattern.compile("local " + list + " = \\{([^}]*)\\}").matcher(prelude);
    assertThat(m.find()).as(list + " in prelude.lua").isTrue();
    List<String> names = new ArrayList<>();
    Matcher name = Pattern.compile("'([a-z]+)'").matcher(m.group(1));
    while (name.find()) {
      names.add(name.group(1));
    }
    return names;
  }
}
