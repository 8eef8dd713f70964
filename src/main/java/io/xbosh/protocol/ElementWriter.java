package io.xbosh.protocol;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import javax.xml.XMLConstants;
import javax.xml.stream.XMLStreamReader;

/**
 * Re-serialises the element a StAX reader is positioned on, with its subtree, into a self-contained
 * fragment for another parent context.
 *
 * <p>Stanzas change parents on their way through a connection manager: from a {@code <body/>} whose
 * default namespace is httpbind to a c2s stream whose default is {@code jabber:client}, and back. The
 * writer therefore works in "repairing" mode: it ignores where the source declared namespaces and
 * declares, on each element, exactly the bindings the element and its attributes need that the
 * target context does not already provide. Elements in {@link #fromNamespace} are moved to
 * {@link #toNamespace} (XEP-0206 §2: unqualified stanzas in a body are {@code jabber:client}).
 *
 * <p>Not thread-safe; one instance per reader. Bounded by {@code maxChars}.
 */
public final class ElementWriter {

  private final Map<String, String> rootScope;
  private final String fromNamespace;
  private final String toNamespace;
  private final int maxChars;

  // grows with a stanza's nesting, which is a few levels for most
  private final Deque<Map<String, String>> scopes = new ArrayDeque<>(4);
  private StringBuilder out;
  private int depth;
  private boolean startTagOpen;

  /**
   * @param rootScope     prefix → namespace bindings the target context declares ("" is the default)
   * @param fromNamespace namespace to rewrite, or null
   * @param toNamespace   namespace it becomes
   * @param maxChars      largest fragment; beyond it {@link #start} and {@link #text} throw
   */
  public ElementWriter(Map<String, String> rootScope, String fromNamespace, String toNamespace, int maxChars) {
    this.rootScope = Map.copyOf(rootScope);
    this.fromNamespace = fromNamespace;
    this.toNamespace = toNamespace;
    this.maxChars = maxChars;
  }

  /** True while an element is open. */
  public boolean inElement() {
    return depth > 0;
  }

  public int depth() {
    return depth;
  }

  /** Writes the start tag of the reader's current START_ELEMENT. */
  public void start(XMLStreamReader r) {
    if (depth == 0) {
      out = new StringBuilder(256);
      scopes.clear();
    }
    Map<String, String> scope = new HashMap<>(4);
    out.append('<');
    String prefix = Objects.requireNonNullElse(r.getPrefix(), "");
    String ns = mapNamespace(Objects.requireNonNullElse(r.getNamespaceURI(), ""));
    if (!prefix.isEmpty()) {
      out.append(prefix).append(':');
    }
    out.append(r.getLocalName());
    bind(scope, prefix, ns);
    for (int i = 0, n = r.getAttributeCount(); i < n; i++) {
      String aPrefix = Objects.requireNonNullElse(r.getAttributePrefix(i), "");
      String aNs = Objects.requireNonNullElse(r.getAttributeNamespace(i), "");
      if (!aPrefix.isEmpty() && !XMLConstants.XML_NS_PREFIX.equals(aPrefix)) {
        bind(scope, aPrefix, mapNamespace(aNs));
      }
      out.append(' ');
      if (!aPrefix.isEmpty()) {
        out.append(aPrefix).append(':');
      }
      out.append(r.getAttributeLocalName(i)).append("=\"");
      XmlEscape.attribute(out, r.getAttributeValue(i)).append('"');
    }
    out.append('>');
    scopes.push(scope);
    depth++;
    startTagOpen = true;
    checkSize();
  }

  public void text(XMLStreamReader r) {
    startTagOpen = false;
    XmlEscape.text(out, new CharArraySequence(r.getTextCharacters(), r.getTextStart(), r.getTextLength()));
    checkSize();
  }

  /**
   * Writes the end tag of the reader's current END_ELEMENT.
   *
   * @return the finished fragment when this closed the outermost element, else null
   */
  public String end(XMLStreamReader r) {
    scopes.pop();
    depth--;
    // collapse <x ...></x> into <x .../>
    if (startTagOpen) {
      out.setLength(out.length() - 1);
      out.append("/>");
    } else {
      out.append("</");
      String prefix = r.getPrefix();
      if (prefix != null && !prefix.isEmpty()) {
        out.append(prefix).append(':');
      }
      out.append(r.getLocalName()).append('>');
    }
    startTagOpen = false;
    if (depth == 0) {
      String s = out.toString();
      out = null;
      return s;
    }
    return null;
  }

  /** Drops any partial element, e.g. after a stream restart. */
  public void reset() {
    depth = 0;
    out = null;
    scopes.clear();
  }

  private String mapNamespace(String ns) {
    return fromNamespace != null && fromNamespace.equals(ns) ? toNamespace : ns;
  }

  private void bind(Map<String, String> scope, String prefix, String ns) {
    String current = lookup(prefix);
    if (ns.equals(current)) {
      return;
    }
    if (current == null && prefix.isEmpty() && ns.isEmpty()) {
      return;
    }
    scope.put(prefix, ns);
    if (prefix.isEmpty()) {
      out.append(" xmlns=\"");
    } else {
      out.append(" xmlns:").append(prefix).append("=\"");
    }
    XmlEscape.attribute(out, ns).append('"');
  }

  private String lookup(String prefix) {
    for (Map<String, String> s : scopes) {
      String ns = s.get(prefix);
      if (ns != null) {
        return ns;
      }
    }
    return rootScope.get(prefix);
  }

  private void checkSize() {
    if (out.length() > maxChars) {
      throw new FragmentTooLargeException(maxChars);
    }
  }

  /** A fragment grew past the configured bound. */
  public static final class FragmentTooLargeException extends RuntimeException {
    FragmentTooLargeException(int max) {
      super("element larger than " + max + " characters", null, false, false);
    }
  }

  private record CharArraySequence(char[] buf, int start, int length) implements CharSequence {
    @Override
    public char charAt(int index) {
      return buf[start + index];
    }

    @Override
    public CharSequence subSequence(int s, int e) {
      return new CharArraySequence(buf, start + s, e - s);
    }

    @Override
    public String toString() {
      return new String(buf, start, length);
    }
  }
}
