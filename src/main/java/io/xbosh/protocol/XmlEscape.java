package io.xbosh.protocol;

/** Escaping for text and double-quoted attribute values; every client- or server-supplied string goes through it. */
public final class XmlEscape {

  private XmlEscape() {
  }

  public static StringBuilder text(StringBuilder out, CharSequence s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '&' -> out.append("&amp;");
        case '<' -> out.append("&lt;");
        case '>' -> out.append("&gt;");
        case '\r' -> out.append("&#13;");
        default -> out.append(c);
      }
    }
    return out;
  }

  public static StringBuilder attribute(StringBuilder out, CharSequence s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '&' -> out.append("&amp;");
        case '<' -> out.append("&lt;");
        case '>' -> out.append("&gt;");
        case '"' -> out.append("&quot;");
        case '\r' -> out.append("&#13;");
        case '\n' -> out.append("&#10;");
        case '\t' -> out.append("&#9;");
        default -> out.append(c);
      }
    }
    return out;
  }

  public static String attribute(CharSequence s) {
    return attribute(new StringBuilder(s.length() + 8), s).toString();
  }
}
