package io.xbosh.protocol;

/** Namespace names used on the wire. */
public final class Namespaces {

  public static final String HTTPBIND = "http://jabber.org/protocol/httpbind";
  public static final String XBOSH = "urn:xmpp:xbosh";
  public static final String STREAMS = "http://etherx.jabber.org/streams";
  public static final String CLIENT = "jabber:client";
  public static final String XML = "http://www.w3.org/XML/1998/namespace";
  /** RFC 6120 §5: STARTTLS. */
  public static final String TLS = "urn:ietf:params:xml:ns:xmpp-tls";
  /** RFC 6120 §6: SASL. */
  public static final String SASL = "urn:ietf:params:xml:ns:xmpp-sasl";

  private Namespaces() {
  }
}
