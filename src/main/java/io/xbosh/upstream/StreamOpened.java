package io.xbosh.upstream;

/**
 * The server's answer to xbosh's stream header.
 *
 * @param id       the stream id (XEP-0206 {@code authid})
 * @param from     the server's identity, or null
 * @param features the serialised {@code <stream:features/>}, without STARTTLS (XEP-0206 §4: the
 *                 link to the server is xbosh's to secure, never the client's)
 * @param secure   whether the link to the server is encrypted
 */
public record StreamOpened(String id, String from, String features, boolean secure) {
}
