package ops

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"sequent/netio/httpguard"
)

// The clearing read endpoints: settlement netting, the log's chain check and the
// cross-shard report. They are GET and change nothing. The settlement listing shows any
// account's transfers and net positions, read as the system past every client's
// ownership (the binary protocol shows a client only what it may read), and runs on the
// shard's sequencer; the cross-shard report sums every client's accounts per ledger and
// lists other clients' transfer ids in flight, over every shard. Both take an admin
// bearer token, checked before the arguments (401/403, as for the admin actions; not
// audited, since nothing changes). The chain check shows no account data (op numbers,
// counts, hashes) and stays behind the allow-list only, for auditors' tools. Settlement
// and reconcile run one at a time, and so does the chain check, in a slot of its own (a
// second concurrent request is 409 busy): each walks a lot of data. The chain check's
// own slot keeps a peer without a token, looping on it, from holding the operators'
// settlement and reconcile off with 409s.

// Paths of the clearing endpoints.
const (
	PathSettlement = "/v1/settlement"
	PathChain      = "/v1/audit/chain"
	PathReconcile  = "/v1/reconcile"
)

// SettlementQuery is GET /v1/settlement's query string, as given: partner (repeated: the
// partner's settlement account ids), until (required) and from (RFC 3339, a date, ns
// since 1970, or now), transfers (how many transfers to list; all are counted).
type SettlementQuery struct {
	Partners  []string
	From      string
	Until     string
	Transfers int
}

// ChainQuery is GET /v1/audit/chain's query string: from and until (as above; until
// empty: up to the durable end), anchor_op (0: none): the op whose chain hash to return,
// shard (default 0): which shard's log to verify on a node of several shards (each shard
// has its own log and chain).
type ChainQuery struct {
	From     string
	Until    string
	AnchorOp uint64
	Shard    int
}

// chainShardsMax bounds the shard parameter (shardmap.ShardsMax; the node refuses a
// shard it does not have).
const chainShardsMax = 256

// ErrBadQuery is for the clearing Sources to wrap when the query's values are wrong (an
// unknown account, a bad time): the caller gets 400 and the message.
var ErrBadQuery = errors.New("ops: bad query")

// Bounds of the clearing endpoints.
const (
	// clearingTimeout bounds one clearing request: a settlement over millions of
	// transfers or a chain check over gigabytes of log take seconds, not minutes; past
	// it the caller gets 504 (narrow the window).
	clearingTimeout = 60 * time.Second
	// settlementTransfersMax bounds the transfers listed in one settlement response
	// (about 300 bytes each: 30 MB at most; the default is 10,000).
	settlementTransfersMax     = 100_000
	settlementTransfersDefault = 10_000
	// partnersMax bounds the partner parameters (the netting refuses more as well).
	partnersMax = 64
)

// handleClearing serves the clearing endpoints.
func (s *Server) handleClearing(ctx *fasthttp.RequestCtx, path string) {
	var run func(context.Context) (any, error)
	var err error
	switch path {
	case PathSettlement:
		if _, ok := s.authorize(ctx, "settlement"); !ok {
			return
		}
		run, err = s.settlementRequest(ctx)
	case PathChain:
		run, err = s.chainRequest(ctx)
	case PathReconcile:
		if _, ok := s.authorize(ctx, "reconcile"); !ok {
			return
		}
		if s.sources.Reconcile != nil {
			run = s.sources.Reconcile
		}
	}
	if err != nil {
		reply(ctx, fasthttp.StatusBadRequest, Reply{Code: CodeBadRequest, Error: err.Error()})
		return
	}
	if run == nil {
		reply(ctx, fasthttp.StatusNotImplemented, Reply{Code: CodeNotImplemented,
			Error: "this node does not offer " + path})
		return
	}
	slot, busy := &s.reading, "another settlement or reconcile request is running; try again"
	if path == PathChain {
		slot, busy = &s.chainCheck, "another chain check is running; try again"
	}
	if !slot.CompareAndSwap(false, true) {
		reply(ctx, fasthttp.StatusConflict, Reply{Code: CodeBusy, Error: busy})
		return
	}
	defer slot.Store(false)
	deadline, cancel := context.WithTimeout(context.Background(), clearingTimeout)
	defer cancel()
	var result any
	// Unguarded: the reads go through the shards' input rings and the log (httpguard).
	httpguard.Unguarded(func() { result, err = run(deadline) })
	switch {
	case err == nil:
		writeJSON(ctx, fasthttp.StatusOK, result)
	case errors.Is(err, ErrBadQuery):
		reply(ctx, fasthttp.StatusBadRequest, Reply{Code: CodeBadRequest, Error: err.Error()})
	case errors.Is(err, ErrRefused):
		reply(ctx, fasthttp.StatusConflict, Reply{Code: CodeRefused, Error: err.Error()})
	case errors.Is(err, context.DeadlineExceeded):
		reply(ctx, fasthttp.StatusGatewayTimeout, Reply{Code: CodeTimeout,
			Error: "not done within " + clearingTimeout.String() + "; narrow the window"})
	default:
		reply(ctx, fasthttp.StatusInternalServerError, Reply{Code: CodeActionFailed,
			Error: err.Error()})
	}
}

// settlementRequest parses GET /v1/settlement's arguments and returns the call to make
// (nil without a source).
func (s *Server) settlementRequest(ctx *fasthttp.RequestCtx) (
	func(context.Context) (any, error), error) {
	if err := checkQueryAsSent(ctx); err != nil {
		return nil, err
	}
	query, err := settlementArguments(ctx.QueryArgs())
	if err != nil || s.sources.Settlement == nil {
		return nil, err
	}
	return func(c context.Context) (any, error) { return s.sources.Settlement(c, query) }, nil
}

// settlementArguments checks the shape of the settlement query; the values (accounts,
// times) are the source's to parse.
func settlementArguments(arguments *fasthttp.Args) (SettlementQuery, error) {
	query := SettlementQuery{From: string(arguments.Peek("from")),
		Until: string(arguments.Peek("until")), Transfers: settlementTransfersDefault}
	for _, partner := range arguments.PeekMulti("partner") {
		query.Partners = append(query.Partners, string(partner))
	}
	if err := onlyArguments(arguments, "partner", "partner", "from", "until",
		"transfers"); err != nil {
		return query, err
	}
	switch {
	case len(query.Partners) == 0 || len(query.Partners) > partnersMax:
		return query, errors.New("give 1 to " + strconv.Itoa(partnersMax) + " partner accounts")
	case query.Until == "":
		return query, errors.New("until (the cut-off) is required")
	}
	if text := arguments.Peek("transfers"); text != nil {
		count, err := strconv.Atoi(string(text))
		if err != nil || count < 0 || count > settlementTransfersMax {
			return query, errors.New("transfers: a number from 0 to " +
				strconv.Itoa(settlementTransfersMax))
		}
		query.Transfers = count
	}
	return query, nil
}

// chainRequest parses GET /v1/audit/chain's arguments and returns the call to make (nil
// without a source).
func (s *Server) chainRequest(ctx *fasthttp.RequestCtx) (
	func(context.Context) (any, error), error) {
	if err := checkQueryAsSent(ctx); err != nil {
		return nil, err
	}
	query, err := chainArguments(ctx.QueryArgs())
	if err != nil || s.sources.VerifyChain == nil {
		return nil, err
	}
	return func(c context.Context) (any, error) { return s.sources.VerifyChain(c, query) }, nil
}

// chainArguments checks the chain query.
func chainArguments(arguments *fasthttp.Args) (ChainQuery, error) {
	query := ChainQuery{From: string(arguments.Peek("from")),
		Until: string(arguments.Peek("until"))}
	// Each once (onlyArguments): for shard also because the answer does not name it.
	if err := onlyArguments(arguments, "", "from", "until", "anchor_op", "shard"); err != nil {
		return query, err
	}
	if text := arguments.Peek("shard"); text != nil {
		shard, err := strconv.Atoi(string(text))
		if err != nil || shard < 0 || shard >= chainShardsMax {
			return query, errors.New("shard: a shard index from 0 to " +
				strconv.Itoa(chainShardsMax-1))
		}
		query.Shard = shard
	}
	if text := arguments.Peek("anchor_op"); text != nil {
		op, err := strconv.ParseUint(string(text), 10, 64)
		if err != nil {
			return query, errors.New("anchor_op: an op number")
		}
		query.AnchorOp = op
	}
	return query, nil
}

// onlyArguments refuses query parameters other than the names given, and any of them
// given twice but repeatable ("" for none). fasthttp visits every repeat (its key
// decoded) and Peek returns the first; a proxy or log reading another repeat (some take
// the last, some compare keys undecoded: "fr%6Fm" is not "from" to them) would see
// another window than the one served (TestOpsQuery50RepeatedArgumentOrFragmentIsRefused).
func onlyArguments(arguments *fasthttp.Args, repeatable string, names ...string) error {
	var unknown, twice string
	seen := make([]bool, len(names))
	arguments.VisitAll(func(key, _ []byte) {
		for i, name := range names {
			if string(key) != name {
				continue
			}
			if seen[i] && name != repeatable && twice == "" {
				twice = name
			}
			seen[i] = true
			return
		}
		if unknown == "" {
			unknown = truncate(string(key), 64)
		}
	})
	switch {
	case unknown != "":
		return errors.New("unknown parameter " + strconv.Quote(unknown))
	case twice != "":
		return errors.New("query argument " + strconv.Quote(twice) + " given twice")
	}
	return nil
}
