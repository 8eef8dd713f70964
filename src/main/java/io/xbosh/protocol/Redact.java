package io.xbosh.protocol;

import java.util.regex.Pattern;

/** Makes XMPP traffic safe to log: SASL exchanges carry credentials and are never written out. */
public final class Redact {

  private static final Pattern SASL = Pattern.compile("(<(auth|response|challenge|success)\\b[^>]*>)[^<]*(</\\2>)");

  private Redact() {
  }

  /** The text with the content of every SASL element replaced. */
  public static String sasl(String xml) {
    return xml.indexOf('<') < 0 ? xml : SASL.matcher(xml).replaceAll("$1[redacted]$3");
  }
}
