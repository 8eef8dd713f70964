package io.xbosh.session;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * The fields of a session's Redis hash that creation writes from a {@link SessionRecord}, each by
 * its name in the hash (prelude.lua lists every field, and {@code FIELDS} there is what the scripts
 * read back): create.lua takes them as (name, value) pairs, so a new attribute is one constant here
 * and one name in the prelude.
 */
enum SessionField {
  HOLD("hold", r -> Integer.toString(r.params().hold())),
  REQUESTS("req", r -> Integer.toString(r.params().requests())),
  WAIT("wait", r -> Integer.toString(r.params().waitSeconds())),
  INACTIVITY("inact", r -> Integer.toString(r.params().inactivity())),
  ACK("ack", r -> r.params().ack() ? "1" : "0"),
  CONTENT("ct", r -> r.params().content()),
  LEGACY("leg", r -> r.params().legacy() ? "1" : "0"),
  OWNER("own", SessionRecord::owner),
  KEY("k", r -> r.newKey() == null ? "" : r.newKey()),
  POLLING("pol", r -> Integer.toString(r.params().polling())),
  /** absent while streams are off: most sessions never open a second stream */
  FIRST_STREAM("sf", r -> r.stream() == null || r.stream().isEmpty() ? null : r.stream()),
  /** absent unless begun over HTTPS */
  ENCRYPTED("tls", r -> r.encrypted() ? "1" : null);

  /** the field's name in the hash */
  final String field;
  /** its value for a new session; null: not written (an absent field costs nothing) */
  private final Function<SessionRecord, String> value;

  SessionField(String field, Function<SessionRecord, String> value) {
    this.field = field;
    this.value = value;
  }

  /** create.lua's arguments: the creation rid, then a (name, value) pair per field written. */
  static List<String> createArguments(SessionRecord r) {
    List<String> args = new ArrayList<>(1 + 2 * values().length);
    args.add(Long.toString(r.rid()));
    for (SessionField f : values()) {
      String v = f.value.apply(r);
      if (v != null) {
        args.add(f.field);
        args.add(v);
      }
    }
    return args;
  }
}
