// Package httppath reads an HTTP request's path exactly as sent (the request target's
// path up to its query, nothing decoded or resolved), for both of a node's HTTP servers:
// the integrators' JSON API (netio/api) and the operators' port (netio/ops). Both route
// by it and log it. It also reads the query as sent (Query) for the checks both servers
// make on the routes that read query arguments: no "#" (ErrFragmentInQuery) and no
// argument name with a percent-escape (EscapedName).
//
// # Why not fasthttp's Path
//
// fasthttp's RequestCtx.Path is normalized: it decodes every percent-escape ("%2F"
// included) before it splits at slashes, and it resolves "." and ".." segments and
// repeated slashes. A gateway, a proxy filtering by path or a log reader may match the
// raw path, or split it first and decode each segment after (as RFC 3986 reads a path),
// resolving nothing: to them "/v1/admin%2Fsnapshot", "/x/../v1/admin/snapshot" and
// "//v1/admin/snapshot" are paths other than "/v1/admin/snapshot", while a server
// routing by the normalized path ran that route for each. One request then had two
// meanings: a proxy that refuses "/v1/admin/" let it through, and the log named another
// path than the one served.
//
// Routing by the path as sent (AsSent) closes that. Neither server decodes anything in
// it: the JSON API splits it at its slashes and matches each segment byte for byte with
// its patterns (an {id} segment is the id as sent: "%31" is no number), and the
// operators' port compares the whole path byte for byte with its fixed routes. ".", ".."
// and empty segments are segments like any other, which no route has, and a route's
// fixed words must be sent as they are written: "/v1/%61dmin/snapshot" or
// "/v1/transfers/5/%70ost" is no route, so that a proxy that matches the raw path and
// one that decodes it first both see the path the server routes, or one it does not
// serve. No route of either server has a character that needs an escape.
//
// Nothing here allocates beyond the path's string; neither server's routing is on the
// binary protocol's hot path.
package httppath
