package io.xbosh.protocol;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Makes XMPP traffic safe to log: SASL exchanges carry credentials and are never written out.
 *
 * <p>SASL elements are recognised by structure, not spelling: an element is SASL when its name
 * resolves to {@code urn:ietf:params:xml:ns:xmpp-sasl} (RFC 6120 §6.4) through a default or
 * prefixed declaration on itself or an enclosing element of the text, whatever the prefix. Its
 * content (never its start tag, which says only the mechanism) is replaced; so is the content of a
 * legacy-authentication query (XEP-0078). Text that may be part
 * of a SASL element split across log lines is replaced too: a SASL element left open runs to the
 * end of the text, and text ending with the end tag of a SASL-named element never opened in it is
 * replaced up to that tag.
 */
public final class Redact {

  static final String SASL_NS = Namespaces.SASL;
  /** XEP-0078 (legacy authentication): its query carries the password or digest. */
  static final String IQ_AUTH_NS = "jabber:iq:auth";
  static final String REDACTED = "[redacted]";

  /** RFC 6120 §6.4: the SASL elements that carry data. */
  private static final Set<String> SASL_DATA = Set.of("auth", "response", "challenge", "success", "failure", "abort");
  private static final Pattern TAG = Pattern.compile("<(/?)([^\\s/>!?]+)([^>]*?)(/?)>");
  private static final Pattern DECLARATION = Pattern.compile("xmlns(?::([^\\s=]+))?\\s*=\\s*(?:\"([^\"]*)\"|'([^']*)')");

  private Redact() {
  }

  /** The text with the content of every SASL element replaced. */
  public static String sasl(String xml) {
    if (xml.indexOf('<') < 0) {
      // no markup at all: a piece of a SASL element's content cannot be told from other text
      return xml.isBlank() ? xml : REDACTED;
    }
    StringBuilder out = new StringBuilder(xml.length());
    Deque<Map<String, String>> scopes = new ArrayDeque<>();
    Matcher m = TAG.matcher(xml);
    int copied = 0;
    int saslDepth = 0; // > 0 inside a SASL element: depth of elements open within it, counting itself
    boolean firstTag = true;
    while (m.find()) {
      boolean end = !m.group(1).isEmpty();
      boolean empty = !m.group(4).isEmpty();
      String name = m.group(2);
      if (firstTag && end && saslDepth == 0 && SASL_DATA.contains(local(name)) && !xml.substring(0, m.start()).isBlank()) {
        // the end of a SASL element whose start came in an earlier piece
        out.append(REDACTED);
        copied = m.start();
      }
      firstTag = false;
      if (saslDepth > 0) {
        if (end) {
          saslDepth--;
        } else if (!empty) {
          saslDepth++;
        }
        if (saslDepth == 0) {
          out.append(REDACTED);
          copied = m.start();
          popScope(scopes, end);
        }
        continue;
      }
      if (end) {
        popScope(scopes, true);
        continue;
      }
      Map<String, String> scope = declarations(m.group(3), scopes.peek());
      String ns = scope.get(prefix(name));
      boolean sasl = SASL_NS.equals(ns) || IQ_AUTH_NS.equals(ns);
      if (!empty) {
        scopes.push(scope);
      }
      if (sasl && !empty) {
        out.append(xml, copied, m.end());
        copied = m.end();
        saslDepth = 1;
      }
    }
    if (saslDepth > 0) {
      out.append(REDACTED);
      return out.toString();
    }
    return out.append(xml, copied, xml.length()).toString();
  }

  private static void popScope(Deque<Map<String, String>> scopes, boolean end) {
    if (end && !scopes.isEmpty()) {
      scopes.pop();
    }
  }

  private static Map<String, String> declarations(String attributes, Map<String, String> parent) {
    Map<String, String> scope = parent == null ? Map.of() : parent;
    if (attributes.indexOf("xmlns") < 0) {
      return scope;
    }
    Map<String, String> own = new HashMap<>(scope);
    Matcher d = DECLARATION.matcher(attributes);
    while (d.find()) {
      own.put(d.group(1) == null ? "" : d.group(1), d.group(2) != null ? d.group(2) : d.group(3));
    }
    return own;
  }

  private static String prefix(String qname) {
    int colon = qname.indexOf(':');
    return colon < 0 ? "" : qname.substring(0, colon);
  }

  private static String local(String qname) {
    return qname.substring(qname.indexOf(':') + 1);
  }
}
