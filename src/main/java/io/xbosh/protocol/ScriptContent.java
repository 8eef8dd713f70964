package io.xbosh.protocol;

import java.nio.charset.StandardCharsets;

/**
 * XEP-0252 (script syntax): a client limited by URL lengths may split its content over several GET
 * requests, so the text between the {@code <body>} tags of a session's requests is one continuous
 * stream in which an element may begin in one request and end in a later one.
 *
 * <p>{@link #split} takes one request apart into its wrapper, checked like any body, and the raw
 * text inside it. A session's {@code ScriptContent} receives that text in rid order and gives back
 * the top-level elements it completes, parsed and re-serialised by the same {@link BodyParser} as
 * pure-syntax payloads; an unfinished element waits, within a bound, for the next request.
 */
public final class ScriptContent {

  /** What follows the last {@code </}: the wrapper's end tag, prefixed or not. */
  private static final java.util.regex.Pattern END_TAG = java.util.regex.Pattern.compile("([A-Za-z_][\\w.-]*:)?body\\s*>");
  private static final String WRAPPER_OPEN = "<body xmlns=\"" + Namespaces.HTTPBIND + "\" xmlns:stream=\"" + Namespaces.STREAMS + "\" rid=\"1\">";

  /** A script-syntax request: its wrapper as an empty body, and the raw text inside ("" for none). */
  public record Split(byte[] wrapper, String content) {
  }

  private final BodyParser parser;
  private final int maxChars;
  private final StringBuilder pending = new StringBuilder();

  /** @param maxChars the most unfinished content a session may leave waiting */
  public ScriptContent(BodyParser parser, int maxChars) {
    this.parser = parser;
    this.maxChars = maxChars;
  }

  /**
   * Separates the wrapper from its content without parsing the content, which may be any piece of
   * the stream. Fails with {@code bad-request} when there is no start tag or no closing tag.
   */
  public static Split split(byte[] bytes) {
    String text = new String(bytes, StandardCharsets.UTF_8);
    int open = text.indexOf('<');
    if (text.startsWith("<?xml", open)) {
      int declEnd = text.indexOf("?>", open);
      open = declEnd < 0 ? -1 : text.indexOf('<', declEnd);
    }
    int end = open < 0 ? -1 : tagEnd(text, open);
    if (end < 0) {
      throw BoshException.badRequest("no body start tag");
    }
    if (text.charAt(end - 1) == '/') {
      return new Split(bytes, "");
    }
    int close = text.lastIndexOf("</");
    if (close <= end || !END_TAG.matcher(text.substring(close + 2).trim()).matches()) {
      throw BoshException.badRequest("no body end tag");
    }
    String wrapper = text.substring(0, end) + "/>";
    return new Split(wrapper.getBytes(StandardCharsets.UTF_8), text.substring(end + 1, close));
  }

  /**
   * Appends the next request's content.
   *
   * @return the payloads it completes, serialised and concatenated; "" while an element is unfinished
   * @throws BoshException {@code bad-request} for malformed content or too much unfinished content
   */
  public String feed(String content) {
    pending.append(content);
    int complete = completeUpTo(pending);
    if (complete == 0) {
      if (pending.length() > maxChars) {
        throw BoshException.badRequest("unfinished script-syntax content beyond " + maxChars + " characters");
      }
      return "";
    }
    String whole = pending.substring(0, complete);
    pending.delete(0, complete);
    BoshBody parsed = parser.parse((WRAPPER_OPEN + whole + BodyWriter.CLOSE).getBytes(StandardCharsets.UTF_8));
    return String.join("", parsed.payloads());
  }

  /**
   * How much of the text is whole top-level elements: the end of the last element closed at depth
   * zero. Markup the body parser refuses anyway (comments, processing instructions, DTDs) only has
   * to be skipped here; unbalanced end tags return everything so the parser can refuse it.
   */
  static int completeUpTo(CharSequence s) {
    String t = s.toString();
    int depth = 0;
    int last = 0;
    int i = t.indexOf('<');
    while (i >= 0 && i < t.length()) {
      int next;
      if (t.startsWith("<!--", i)) {
        next = skipPast(t, i, "-->");
      } else if (t.startsWith("<![CDATA[", i)) {
        next = skipPast(t, i, "]]>");
      } else if (t.startsWith("<?", i) || t.startsWith("<!", i)) {
        next = skipPast(t, i, ">");
      } else {
        int end = tagEnd(t, i);
        if (end < 0) {
          return last;
        }
        next = end + 1;
        if (t.charAt(i + 1) == '/') {
          depth--;
        } else if (t.charAt(end - 1) != '/') {
          depth++;
        }
        if (depth < 0) {
          return t.length();
        }
        if (depth == 0) {
          last = next;
        }
      }
      if (next < 0) {
        return last;
      }
      i = t.indexOf('<', next);
    }
    return last;
  }

  private static int skipPast(String t, int from, String marker) {
    int at = t.indexOf(marker, from);
    return at < 0 ? -1 : at + marker.length();
  }

  /** The index of the '>' ending the tag that starts at {@code lt}, skipping quoted values; -1 if not there yet. */
  public static int tagEnd(String t, int lt) {
    char quote = 0;
    for (int i = lt + 1; i < t.length(); i++) {
      char c = t.charAt(i);
      if (quote != 0) {
        if (c == quote) {
          quote = 0;
        }
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '>') {
        return i;
      }
    }
    return -1;
  }
}
