package io.xbosh.session;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;

/**
 * One server-side script: its source (the shared prelude plus the script) and its SHA-1 for EVALSHA.
 * The store calls the same scripts as functions of one library ({@link ScriptLibrary}) where Redis
 * has functions (7.0 and later); these are for a Redis that has not.
 *
 * <p>The source begins with the Redis 7 shebang {@code #!lua} and no flags: Redis then knows
 * before the script runs that it may write, and refuses it whole while over {@code maxmemory}
 * (no {@code allow-oom}) instead of failing at its first growing write with the earlier ones
 * applied. {@link #plain} is the same script without the shebang, for Redis 6, which cannot
 * compile it.
 */
record LuaScript(String name, String source, String sha, String plainSource, String plainSha) {

  /** Redis 7 script flags: none, so Redis refuses the script up front while over maxmemory. */
  static final String SHEBANG = "#!lua\n";

  static LuaScript load(String name, Map<String, String> constants) {
    return load(name, constants, "");
  }

  /** @param flags Redis 7 script flags, e.g. {@code no-writes} for a script that only reads ("" for none) */
  static LuaScript load(String name, Map<String, String> constants, String flags) {
    String src = withConstants(resource("prelude.lua") + "\nbegin(KEYS, ARGV)\n" + resource(name + ".lua"), constants);
    String flagged = (flags.isEmpty() ? SHEBANG : "#!lua flags=" + flags + "\n") + src;
    return new LuaScript(name, flagged, sha1(flagged), src, sha1(src));
  }

  /** The script for a Redis that does not know script flags (before 7.0). */
  LuaScript plain() {
    return new LuaScript(name, plainSource, plainSha, plainSource, plainSha);
  }

  /** {@code source} with each constant's placeholder replaced by its value, in the map's order. */
  static String withConstants(String source, Map<String, String> constants) {
    String src = source;
    for (var e : constants.entrySet()) {
      src = src.replace(e.getKey(), e.getValue());
    }
    return src;
  }

  /** A Lua string literal holding {@code s}. */
  static String quote(String s) {
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'";
  }

  static String resource(String file) {
    try (InputStream in = LuaScript.class.getResourceAsStream(file)) {
      if (in == null) {
        throw new IllegalStateException("missing script " + file);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read script " + file, e);
    }
  }

  static String sha1(String s) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1").digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
