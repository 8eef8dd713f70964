package io.xbosh.session;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;

/** One server-side script: its source (the shared prelude plus the script) and its SHA-1 for EVALSHA. */
record LuaScript(String name, String source, String sha) {

  static LuaScript load(String name, Map<String, String> constants) {
    String src = resource("prelude.lua") + "\n" + resource(name + ".lua");
    for (var e : constants.entrySet()) {
      src = src.replace(e.getKey(), e.getValue());
    }
    return new LuaScript(name, src, sha1(src));
  }

  /** A Lua string literal holding {@code s}. */
  static String quote(String s) {
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'";
  }

  private static String resource(String file) {
    try (InputStream in = LuaScript.class.getResourceAsStream(file)) {
      if (in == null) {
        throw new IllegalStateException("missing script " + file);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read script " + file, e);
    }
  }

  private static String sha1(String s) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1").digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
