package io.xbosh.session;

import io.vertx.redis.client.Command;
import io.vertx.redis.client.Request;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The session scripts as one Redis function library (Redis 7 functions): {@code FUNCTION LOAD}
 * runs the prelude once and registers each script as a function of it, {@code FCALL} then runs only
 * the script's own lines. As scripts ({@link LuaScript}, {@code EVALSHA}) every call runs the prelude
 * first: its constants, about 45 local functions and the field list, re-created on every call.
 *
 * <p>The library's name and its functions' names carry a hash of its source, which holds the
 * store's constants (bounds, the tombstone time): stores built with other constants, or another
 * version of xbosh during a rolling upgrade, load libraries of their own beside it and never replace
 * each other's functions. Each function is a script's lines in a Lua function whose parameters are
 * named {@code KEYS} and {@code ARGV}, so the scripts read the same in both forms; {@code begin}
 * (prelude.lua) binds each call's keys, pod and clock.
 */
final class ScriptLibrary {

  /** A script of the library and its Redis function flags ("" for none, like {@link LuaScript}'s shebang). */
  record Script(String name, String flags) {
  }

  private final String name;
  private final String source;
  private final Map<String, String> functions;

  private ScriptLibrary(String name, String source, Map<String, String> functions) {
    this.name = name;
    this.source = source;
    this.functions = functions;
  }

  static ScriptLibrary load(List<Script> scripts, Map<String, String> constants) {
    StringBuilder body = new StringBuilder(LuaScript.resource("prelude.lua")).append('\n');
    for (Script s : scripts) {
      body.append("local function ").append(s.name()).append("_script(KEYS, ARGV)\nbegin(KEYS, ARGV)\n")
          .append(LuaScript.resource(s.name() + ".lua")).append("\nend\n");
    }
    String code = LuaScript.withConstants(body.toString(), constants);
    String name = "xb_" + LuaScript.sha1(code).substring(0, 16);
    StringBuilder registered = new StringBuilder(code);
    Map<String, String> functions = new LinkedHashMap<>();
    for (Script s : scripts) {
      String function = name + "_" + s.name();
      functions.put(s.name(), function);
      // no flags: Redis knows the function may write and refuses it whole while over maxmemory
      registered.append("redis.register_function{function_name='").append(function).append("', callback=")
          .append(s.name()).append("_script").append(s.flags().isEmpty() ? "" : ", flags={'" + s.flags() + "'}")
          .append("}\n");
    }
    return new ScriptLibrary(name, "#!lua name=" + name + "\n" + registered, Map.copyOf(functions));
  }

  String name() {
    return name;
  }

  String source() {
    return source;
  }

  /** The name of the function that runs {@code script}. */
  String function(String script) {
    String f = functions.get(script);
    if (f == null) {
      throw new IllegalArgumentException("no script " + script + " in the library");
    }
    return f;
  }

  /**
   * {@code FUNCTION LOAD REPLACE}: loading again what is loaded already (another pod was first, or a
   * load raced another) is harmless, and never fails over the library existing.
   */
  Request loadRequest() {
    return Request.cmd(Command.FUNCTION).arg("LOAD").arg("REPLACE").arg(source);
  }

  /**
   * The library of a store with the default bounds (XBOSH_MAX_QUEUED_STANZAS 1000 and the others'
   * defaults), as JSON ({@code library}: the source,
   * {@code functions}: script name to function name), for {@code src/bench/script-cost.py}.
   */
  public static void main(String[] args) {
    ScriptLibrary lib = RedisSessionStore.library(RedisSessionStore.constants(1000,
        SessionStore.DEFAULT_MAX_QUEUED_BYTES, SessionStore.DEFAULT_MAX_RESPONSE_BYTES, 120, SessionStore.DEFAULT_MAX_STREAMS));
    StringBuilder out = new StringBuilder("{\"library\": ").append(json(lib.source)).append(", \"functions\": {");
    String sep = "";
    for (var e : lib.functions.entrySet()) {
      out.append(sep).append(json(e.getKey())).append(": ").append(json(e.getValue()));
      sep = ", ";
    }
    System.out.println(out.append("}}"));
  }

  private static String json(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        default -> {
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.append('"').toString();
  }
}
