// Package httppath reads an HTTP request's path as RFC 3986 reads it, for both of a
// node's HTTP servers: the integrators' JSON API (netio/api) and the operators' port
// (netio/ops). Both route by it and log it.
//
// # Why not fasthttp's Path
//
// fasthttp's RequestCtx.Path is normalized: it decodes every percent-escape ("%2F"
// included) before it splits at slashes, and it resolves "." and ".." segments and
// repeated slashes. A gateway, a proxy filtering by path, a log reader or any RFC 3986
// parser splits first and decodes each segment after, and resolves nothing: to them
// "/v1/admin%2Fsnapshot", "/x/../v1/admin/snapshot" and "//v1/admin/snapshot" are paths
// other than "/v1/admin/snapshot", while a server routing by the normalized path ran
// that route for each. One request then had two meanings: a proxy that refuses
// "/v1/admin/" let it through, and the log named another path than the one served.
//
// Routing by the path as sent (AsSent) closes that. The JSON API splits it at its
// slashes, then decodes each segment (Segments; "%31" is "1", "%2F" stays inside its
// segment), so "." and ".." and empty segments are segments like any other, which no
// route has, and matches the segments against its patterns. The operators' port, whose
// routes are fixed paths without a character that needs an escape, compares the path as
// sent byte for byte: a path with any escape is no route there, so that a proxy that
// matches the raw path and one that decodes it first both see the path it routes, or one
// it does not serve ("/v1/%61dmin/snapshot").
//
// Nothing here allocates for a path without percent-escapes beyond the string itself;
// neither server's routing is on the binary protocol's hot path.
package httppath
