package ops

import (
	"embed"
	"errors"
	"mime"
	"path"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"

	"sequent/core/model"
	"sequent/netio/httpguard"
)

// The live console: a read-only page at / that polls /v1/status, /v1/latency and
// /v1/depth and draws them (console/*: plain HTML, CSS and JavaScript, embedded in the
// binary, no build step, nothing fetched from elsewhere). Like the other read
// endpoints it needs no token but the peer must pass the allow-list.
const (
	PathConsole = "/"
	PathLatency = "/v1/latency"
	PathDepth   = "/v1/depth"
	// consoleAssetsPrefix is where the page's script and style sheet are served.
	consoleAssetsPrefix = "/console/"
)

// Reply codes of /v1/depth beyond the common ones.
const (
	CodeInstrumentNotFound = "instrument_not_found" // 404: the core knows no such instrument.
	CodeUnavailable        = "unavailable"          // 503: the node cannot answer reads now.
)

// Bounds of the console's data. The page polls every second or two; these keep what one
// poll costs the node small and fixed.
const (
	// latencySampleInterval is the length of one /v1/latency sample: short enough that a
	// stall of a few seconds shows as a spike, long enough that a sample of a quiet node
	// still holds some requests. Each sample copies every operation's histogram (~20 KiB)
	// under the shard's latency mutex once.
	latencySampleInterval = 2 * time.Second
	// latencySamplesMax is how many samples /v1/latency keeps: 150 × 2 s = the last five
	// minutes, what an operator opening the page during an incident wants to see.
	latencySamplesMax = 150
	// depthLevelsDefault and depthLevelsMax bound the levels per side of /v1/depth: a
	// console shows the top of the book; 50 a side is ~3 KiB of JSON.
	depthLevelsDefault = 10
	depthLevelsMax     = 50
	// depthCacheTime is how long a /v1/depth answer is reused: each fresh answer is one
	// read through the shard's input ring, so any number of open consoles cost the
	// sequencer at most four reads a second per instrument they watch (up to
	// depthCacheEntriesMax instruments; beyond, the per-address rate limit bounds them).
	depthCacheTime = 250 * time.Millisecond
	// depthCacheEntriesMax bounds the answers the depth cache holds (one per instrument
	// and levels asked; each at most ~3 KiB of depth): more than the instruments a room
	// of consoles watches at once, and small enough that a full cache is scanned on a miss.
	depthCacheEntriesMax = 64
)

// ConsoleSources are the optional callbacks behind the console's own endpoints. Each must
// be safe from any goroutine. A nil one makes its endpoint answer 501; the page then
// shows that part as not available.
type ConsoleSources struct {
	// LatencyHistograms returns each operation's cumulative request latency histogram in
	// microseconds (shard.LatencyHistograms). The server calls it every
	// latencySampleInterval from Start to Shutdown and serves the differences on
	// /v1/latency.
	LatencyHistograms func() map[string]*hdrhistogram.Snapshot
	// Depth returns up to levels price levels per side of an instrument's book (bids
	// first, best first, as get_depth answers), and the request-level status: ok,
	// instrument_not_found, or why the node cannot answer (busy, not_primary when
	// fenced, shutting_down). An error means no answer in time. It must bound its own
	// wait (the wiring's is a couple of seconds).
	Depth func(instrument, levels uint32) ([]model.DepthLevel, model.Status, error)
}

// Depth is /v1/depth's body: the best levels of one instrument's book.
type Depth struct {
	Instrument uint32 `json:"instrument"`
	// Bids are the buy levels, best (highest price) first; Asks the sell levels, best
	// (lowest price) first.
	Bids []DepthLevel `json:"bids"`
	Asks []DepthLevel `json:"asks"`
}

// DepthLevel is one price level. Price and quantity are decimal strings: they are 64- and
// 128-bit integers, beyond what a JavaScript number holds exactly.
type DepthLevel struct {
	Price    string `json:"price"`
	Quantity string `json:"quantity"`
	Orders   uint32 `json:"orders"`
}

//go:embed console
var consoleFiles embed.FS

// consoleAssets maps each served path to its embedded file.
var consoleAssets = map[string]string{
	PathConsole:                         "console/index.html",
	consoleAssetsPrefix + "console.js":  "console/console.js",
	consoleAssetsPrefix + "console.css": "console/console.css",
}

// consoleSecurityHeaders keep the page to itself: scripts, styles and requests only from
// this server (no inline script, no CDN), never framed, no referrer sent.
var consoleSecurityHeaders = [...][2]string{
	{"Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; " +
		"connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; " +
		"frame-ancestors 'none'"},
	{"X-Content-Type-Options", "nosniff"},
	{"Referrer-Policy", "no-referrer"},
	{"Cache-Control", "no-cache"},
}

// console is the server's console state: the latency sampler and the depth cache.
type console struct {
	sources ConsoleSources
	history *latencyHistory // Nil without LatencyHistograms.
	depth   depthCache
}

func newConsole(sources ConsoleSources) *console {
	c := &console{sources: sources}
	if sources.LatencyHistograms != nil {
		c.history = newLatencyHistory(sources.LatencyHistograms)
	}
	return c
}

// start runs the latency sampler (Server.Start); stop ends it (Server.Shutdown).
func (c *console) start() {
	if c.history != nil {
		go c.history.run()
	}
}

func (c *console) stop() {
	if c.history != nil {
		c.history.close()
	}
}

// depthCache keeps recent /v1/depth answers, each for depthCacheTime, at most
// depthCacheEntriesMax of them (one per instrument and levels asked). It is best effort:
// two requests that miss at once both ask the node, which is fine.
type depthCache struct {
	mutex   sync.Mutex
	entries map[depthKey]depthAnswer
}

// depthKey is what a /v1/depth answer depends on.
type depthKey struct{ instrument, levels uint32 }

// depthAnswer is one cached answer and when it was read.
type depthAnswer struct {
	at         time.Time
	statusCode int
	body       any
}

func (d *depthCache) get(instrument, levels uint32, now time.Time) (int, any, bool) {
	d.mutex.Lock()
	defer d.mutex.Unlock()
	answer, ok := d.entries[depthKey{instrument, levels}]
	if !ok || now.Sub(answer.at) >= depthCacheTime {
		return 0, nil, false
	}
	return answer.statusCode, answer.body, true
}

// put caches an answer. When the cache is full it first drops the expired answers, then
// (all still fresh: more instruments watched than it holds) the oldest one: a scan of at
// most depthCacheEntriesMax entries, on a miss only.
func (d *depthCache) put(instrument, levels uint32, now time.Time, statusCode int, body any) {
	d.mutex.Lock()
	defer d.mutex.Unlock()
	key := depthKey{instrument, levels}
	if d.entries == nil {
		d.entries = make(map[depthKey]depthAnswer, depthCacheEntriesMax)
	}
	if _, held := d.entries[key]; !held && len(d.entries) >= depthCacheEntriesMax {
		var oldest depthKey
		oldestAt := now.Add(time.Hour)
		for k, answer := range d.entries {
			if now.Sub(answer.at) >= depthCacheTime {
				delete(d.entries, k)
			} else if answer.at.Before(oldestAt) {
				oldest, oldestAt = k, answer.at
			}
		}
		if len(d.entries) >= depthCacheEntriesMax {
			delete(d.entries, oldest)
		}
	}
	d.entries[key] = depthAnswer{at: now, statusCode: statusCode, body: body}
}

// handleConsole serves the console's page, assets and endpoints. It returns the endpoint
// label for the request counter, or "" when path is none of them.
func (s *Server) handleConsole(ctx *fasthttp.RequestCtx, path string) string {
	asset, isAsset := consoleAssets[path]
	if !isAsset && path != PathLatency && path != PathDepth {
		return ""
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		methodNotAllowed(ctx, allowRead)
		return path
	}
	switch {
	case isAsset:
		serveAsset(ctx, asset)
	case path == PathLatency:
		s.handleLatency(ctx)
	case path == PathDepth:
		s.handleDepth(ctx)
	}
	return path
}

func serveAsset(ctx *fasthttp.RequestCtx, name string) {
	data, err := consoleFiles.ReadFile(name)
	if err != nil { // Cannot happen: consoleAssets names embedded files (a test checks).
		reply(ctx, fasthttp.StatusInternalServerError, Reply{Code: CodeInternal,
			Error: "console asset missing"})
		return
	}
	for _, header := range consoleSecurityHeaders {
		ctx.Response.Header.Set(header[0], header[1])
	}
	ctx.SetContentType(mime.TypeByExtension(path.Ext(name)))
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetBody(data)
}

func (s *Server) handleLatency(ctx *fasthttp.RequestCtx) {
	if s.console.history == nil {
		reply(ctx, fasthttp.StatusNotImplemented, Reply{Code: CodeNotImplemented,
			Error: "this server has no latency history"})
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, s.console.history.history())
}

// errDepthArguments is what a /v1/depth request with wrong arguments is told.
var errDepthArguments = errors.New("want ?instrument=ID (1 to 4294967295) and optionally " +
	"&levels=N (1 to " + strconv.Itoa(depthLevelsMax) + ", default " +
	strconv.Itoa(depthLevelsDefault) + ")")

func (s *Server) handleDepth(ctx *fasthttp.RequestCtx) {
	if s.console.sources.Depth == nil {
		reply(ctx, fasthttp.StatusNotImplemented, Reply{Code: CodeNotImplemented,
			Error: "this server does not serve order book depth"})
		return
	}
	err := checkQueryAsSent(ctx)
	var instrument, levels uint32
	if err == nil {
		instrument, levels, err = depthArguments(ctx.QueryArgs())
	}
	if err != nil {
		reply(ctx, fasthttp.StatusBadRequest, Reply{Code: CodeBadRequest, Error: err.Error()})
		return
	}
	now := s.now()
	if statusCode, body, ok := s.console.depth.get(instrument, levels, now); ok {
		writeJSON(ctx, statusCode, body)
		return
	}
	statusCode, body := s.queryDepth(instrument, levels)
	if statusCode != fasthttp.StatusGatewayTimeout {
		s.console.depth.put(instrument, levels, now, statusCode, body)
	}
	writeJSON(ctx, statusCode, body)
}

// depthArguments parses ?instrument=ID[&levels=N]; anything else is an error, each
// given twice too: the last levels was served where a proxy or log reading the first sees
// another book (TestOpsQuery50RepeatedArgumentOrFragmentIsRefused).
func depthArguments(args *fasthttp.Args) (instrument, levels uint32, err error) {
	levels = depthLevelsDefault
	seen, levelsSeen := false, false
	args.VisitAll(func(key, value []byte) {
		number, parseErr := strconv.ParseUint(string(value), 10, 32)
		switch {
		case parseErr != nil:
			err = errDepthArguments
		case string(key) == "instrument" && !seen && number >= 1:
			instrument, seen = uint32(number), true
		case string(key) == "levels" && !levelsSeen && number >= 1 &&
			number <= depthLevelsMax:
			levels, levelsSeen = uint32(number), true
		default:
			err = errDepthArguments
		}
	})
	if err == nil && !seen {
		err = errDepthArguments
	}
	return instrument, levels, err
}

// queryDepth asks the node and returns the HTTP status and body to answer with.
func (s *Server) queryDepth(instrument, levels uint32) (int, any) {
	var found []model.DepthLevel
	var status model.Status
	var err error
	// Unguarded: the read goes through the shard's input ring (see httpguard).
	httpguard.Unguarded(func() { found, status, err = s.console.sources.Depth(instrument, levels) })
	switch {
	case err != nil:
		return fasthttp.StatusGatewayTimeout, Reply{Code: CodeTimeout, Error: err.Error()}
	case status == model.StatusInstrumentNotFound:
		return fasthttp.StatusNotFound, Reply{Code: CodeInstrumentNotFound,
			Error: "no instrument " + strconv.FormatUint(uint64(instrument), 10)}
	case status != model.StatusOK:
		return fasthttp.StatusServiceUnavailable, Reply{Code: CodeUnavailable,
			Error: "the node cannot answer reads now: " + status.String()}
	}
	depth := Depth{Instrument: instrument, Bids: []DepthLevel{}, Asks: []DepthLevel{}}
	for i := range found {
		level := DepthLevel{Price: strconv.FormatUint(found[i].Price, 10),
			Quantity: found[i].Quantity.String(), Orders: found[i].OrderCount}
		if found[i].Side == model.SideBuy {
			depth.Bids = append(depth.Bids, level)
		} else {
			depth.Asks = append(depth.Asks, level)
		}
	}
	return fasthttp.StatusOK, depth
}
