package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"sequent/core/model"
	"sequent/core/shardmap"
)

// chunks splits count events into runs of at most model.EventsPerRequestMax, never
// cutting a linked chain (linked(i) reports whether event i links to the next): a chain
// is atomic only inside one request. The runs are appended to runs (callers pass an
// array on their stack: most calls are one run, and then allocate nothing here).
func chunks(runs [][2]int, count int, linked func(i int) bool) ([][2]int, error) {
	for start := 0; start < count; {
		end := min(start+model.EventsPerRequestMax, count)
		if end < count {
			cut := end
			for cut > start && linked(cut-1) {
				cut--
			}
			if cut == start {
				return nil, ErrChainTooLong
			}
			end = cut
		}
		runs = append(runs, [2]int{start, end})
		start = end
	}
	return runs, nil
}

// batch sends one request per run (all pipelined) and waits for every reply in order,
// calling collect with each reply's body (read it there: it is not kept). Create operations are merged with concurrent
// callers' (coalesce.go): openChain(run) says the run ends inside a linked chain, and
// shard(run) is the shard the run was routed to (Config.RouteByShard; runs of different
// shards never share a request); each reply's body is then this caller's results only.
// The first error is returned after all replies are in, so no request is left
// unaccounted for (batchError: but one saying a request may be applied wins over the
// context's), and it says a write may be applied whenever one of the batch may be or
// was (mayBeAppliedError).
func (c *Client) batch(ctx context.Context, operation model.Operation, flags uint8,
	runs [][2]int, encode func(run [2]int) []byte, openChain func(run [2]int) bool,
	shard func(run [2]int) uint16, collect func(body []byte)) error {
	var one [1]part // Most calls are one run: their part stays on the stack.
	parts := one[:0]
	var first, unsent error
	for index, run := range runs {
		if !c.coalescing(operation) {
			parts = append(parts, part{call: c.Go(ctx, operation, flags, encode(run), nil)})
			continue
		}
		var runShard uint16
		if shard != nil {
			runShard = shard(run)
		}
		p, err := c.submitRun(ctx, coalesceKey{operation, flags, runShard}, encode(run), nil,
			run[1]-run[0], openChain(run), index < len(runs)-1, len(runs) == 1)
		if err != nil {
			// Nothing of this run was sent; later runs are not sent either. Its error
			// comes after those of the runs sent before it, in the batch's order.
			unsent = err
			break
		}
		parts = append(parts, p)
	}
	mayBeApplied := false // A request answered ok, or whose outcome is unknown.
	for i := range parts {
		body, err := parts[i].wait(ctx)
		if err != nil {
			// Declared here, not above the loop: errors.As takes its address, so the
			// compiler moves it to the heap where it is declared, one allocation per call
			// even on success (session 39, issue 15's 512 callers).
			var unknown *OutcomeUnknownError
			mayBeApplied = mayBeApplied || errors.As(err, &unknown)
			first = batchError(first, err)
			continue
		}
		mayBeApplied = true
		if first == nil {
			collect(body)
		}
	}
	if first == nil {
		first = unsent
	}
	if info, _ := operation.Info(); info.Write && mayBeApplied {
		first = mayBeAppliedError(operation, first)
	}
	return first
}

// mayBeAppliedError is err, the error of a write batch a request of which was applied
// or may be, as its caller must read it: an *OutcomeUnknownError (Number 0: the batch's
// outcome, no one request's) wrapping any error but one that says so already or a
// request-level refusal (the batching calls' docs: the other requests may have been
// applied). The error of a run never sent (the client closed, or the caller's context
// ended while it waited for window room) or of a request refused by a protocol error
// says, alone, that nothing was applied. errors.Is and errors.As still find it.
func mayBeAppliedError(operation model.Operation, err error) error {
	if err == nil {
		// Before the declarations below: errors.As takes their addresses, so each is a
		// heap allocation where it is declared, paid by every successful call otherwise.
		return nil
	}
	var unknown *OutcomeUnknownError
	var refused *StatusError
	if errors.As(err, &unknown) || errors.As(err, &refused) {
		return err
	}
	return &OutcomeUnknownError{Operation: operation, Status: model.StatusOutcomeUnknown,
		Err: err}
}

// batchError returns the error of a batch whose requests so far ended with first (nil:
// none failed) when the next one ends with err. The first error wins, except that an
// *OutcomeUnknownError wins over the plain error of a caller's context that ended: that
// one says its request is not applied (never written, or only refused), the other that
// a request of the batch may be; a caller told only that its context ended would take
// the whole batch for not applied.
func batchError(first, err error) error {
	if first == nil {
		return err
	}
	var unknown *OutcomeUnknownError
	contextEnded := errors.Is(first, context.Canceled) ||
		errors.Is(first, context.DeadlineExceeded)
	if contextEnded && !errors.As(first, &unknown) && errors.As(err, &unknown) {
		return err
	}
	return first
}

// CreateAccounts creates accounts, in requests of up to model.EventsPerRequestMax
// events (linked chains are kept whole), and returns one result per account.
func (c *Client) CreateAccounts(ctx context.Context, accounts []model.Account) (
	[]model.EventResult, error) {
	var one [1][2]int
	runs, err := chunks(one[:0], len(accounts), func(i int) bool {
		return accounts[i].Flags&model.AccountLinked != 0
	})
	if err != nil {
		return nil, err
	}
	results := make([]model.EventResult, 0, len(accounts))
	err = c.batch(ctx, model.OperationCreateAccounts, 0, runs, func(run [2]int) []byte {
		body := make([]byte, (run[1]-run[0])*model.AccountSize)
		for i := run[0]; i < run[1]; i++ {
			accounts[i].Encode(body[(i-run[0])*model.AccountSize:])
		}
		return body
	}, func(run [2]int) bool { return accounts[run[1]-1].Flags&model.AccountLinked != 0 },
		nil, func(body []byte) { results = appendEventResults(results, body) })
	if err == nil && len(results) != len(accounts) {
		err = fmt.Errorf("client: %d results for %d accounts", len(results), len(accounts))
	}
	return results, err
}

// CreateTransfers creates transfers in requests of up to model.EventsPerRequestMax
// events (linked chains kept whole; per debit shard with Config.RouteByShard) and returns
// one result per transfer, in order. The requests are numbered and sent in the batch's
// order (per shard with RouteByShard), so the server applies them in that order, except
// that a request answered busy, log_unavailable or outcome_unknown is resent with its
// number after a delay (Config.BusyRetryDelay), by which time a later request of the
// batch may have been applied: a batch whose outcome depends on the order of its
// transfers across requests should fit in one request (or use a linked chain, which is
// never cut). When a batch takes several requests and
// one fails at request level, the error is returned and no results, although the other
// requests may have been applied: sending the same batch again is safe (transfers that
// exist answer exists, or exists_with_different_* if their fields differ).
func (c *Client) CreateTransfers(ctx context.Context, transfers []model.Transfer) (
	[]model.EventResult, error) {
	results := make([]model.EventResult, len(transfers))
	if err := c.CreateTransfersInto(ctx, transfers, results); err != nil {
		return nil, err
	}
	return results, nil
}

// CreateTransfersInto is CreateTransfers with the results written into results, one per
// transfer in order (len(results) must be len(transfers): otherwise nothing is sent and
// the error says so). A caller that calls again and again (a gateway's handler, a load
// generator's caller) passes the same slice each time and then allocates nothing of its
// own per call: CreateTransfers' new results slice was the last allocation a merged
// one-transfer call paid (TestMergedCallerAllocations). On an error the content of
// results is undefined (some requests of a batch may have been answered).
func (c *Client) CreateTransfersInto(ctx context.Context, transfers []model.Transfer,
	results []model.EventResult) error {
	if len(results) != len(transfers) {
		return fmt.Errorf("client: room for %d results for %d transfers", len(results),
			len(transfers))
	}
	if len(transfers) == 1 && c.coalescing(model.OperationCreateTransfers) {
		result, err := c.createTransfer(ctx, transfers, 0)
		if err == nil {
			results[0].Decode(result)
		}
		return err
	}
	return c.createTransfers(ctx, transfers, 0, model.EventResultSize,
		func(i int, result []byte) { results[i].Decode(result) })
}

// CreateTransfersWithBalances is CreateTransfers with each result carrying both
// accounts' balances right after the transfer.
func (c *Client) CreateTransfersWithBalances(ctx context.Context,
	transfers []model.Transfer) ([]model.TransferResult, error) {
	results := make([]model.TransferResult, len(transfers))
	if len(transfers) == 1 && c.coalescing(model.OperationCreateTransfers) {
		result, err := c.createTransfer(ctx, transfers, requestFlagReplyBalances)
		if err != nil {
			return nil, err
		}
		results[0].DecodeWithBalances(result)
		return results, nil
	}
	if err := c.createTransfers(ctx, transfers, requestFlagReplyBalances,
		model.EventResultBalancesSize,
		func(i int, result []byte) { results[i].DecodeWithBalances(result) }); err != nil {
		return nil, err
	}
	return results, nil
}

// createTransfers sends transfers and hands each result (resultSize bytes) to store
// with the index of its transfer.
func (c *Client) createTransfers(ctx context.Context, transfers []model.Transfer,
	flags uint8, resultSize int, store func(i int, result []byte)) error {
	routed, err := c.routeTransfers(ctx, transfers)
	if err != nil {
		return err
	}
	index := func(i int) int { // Of the transfer sent i-th.
		if routed.order == nil {
			return i
		}
		return routed.order[i]
	}
	var one [1][2]int
	runs := one[:0]
	if routed.debit != nil {
		runs = shardRuns(runs, routed.order, routed.debit) // One shard per request.
	} else if runs, err = chunks(runs, len(transfers), func(i int) bool {
		return transfers[i].Flags&model.TransferLinked != 0
	}); err != nil {
		return err
	}
	done := 0
	// A small run is encoded in a pooled buffer: submit and Go copy the body into the
	// request's frame before returning, so one buffer serves every run in turn. (A local
	// array would not stay on the stack: the body returns through a function value, so
	// the compiler moves it to the heap, a fresh allocation per call.)
	small := smallEncodeBuffers.Get().(*[encodeSmallEvents * model.TransferSize]byte)
	defer smallEncodeBuffers.Put(small)
	err = c.batch(ctx, model.OperationCreateTransfers, flags, runs, func(run [2]int) []byte {
		body := small[:0]
		if size := (run[1] - run[0]) * model.TransferSize; size <= len(small) {
			body = small[:size]
		} else {
			body = make([]byte, size)
		}
		for i := run[0]; i < run[1]; i++ {
			transfers[index(i)].Encode(body[(i-run[0])*model.TransferSize:])
		}
		return body
	}, func(run [2]int) bool { return transfers[index(run[1]-1)].Flags&model.TransferLinked != 0 },
		func(run [2]int) uint16 {
			if routed.debit == nil {
				return routed.shard
			}
			return routed.debit[routed.order[run[0]]]
		}, func(body []byte) {
			for offset := 0; offset+resultSize <= len(body) && done < len(transfers); offset += resultSize {
				store(index(done), body[offset:offset+resultSize])
				done++
			}
		})
	if err == nil && done != len(transfers) {
		err = fmt.Errorf("client: %d results for %d transfers", done, len(transfers))
	}
	return err
}

// createTransfer is createTransfers for a batch of one transfer (one) with merging on,
// the one-event caller that merging is for (hundreds of them per request), and returns
// its result (a slice of the shared reply: decode it, do not keep it). wait has checked
// its size: the result of one event, with balances when flags asks for them.
// It sends and fails exactly as createTransfers does with one run (batch): a run that is
// never sent returns submit's error, a sent one the error of its wait, already an
// *OutcomeUnknownError wherever the transfer may be applied (mayBeAppliedError would
// return it as it is). What it leaves out is the general path's machinery, about 560
// of the client package's instructions per call (1,275 → 715, callgrind;
// bench/PERFORMANCE.md, session 45 callers45, issue 15), in a call that is mostly parking
// and waking: the run list, the five function values and the pooled encoding buffer (the
// transfer is encoded straight into the request's frame: submitRun).
func (c *Client) createTransfer(ctx context.Context, one []model.Transfer,
	flags uint8) ([]byte, error) {
	var shard uint16 // Without RouteByShard, routeTransfers's answer: no call (session 47).
	if c.config.RouteByShard {
		routed, err := c.routeTransfers(ctx, one) // One transfer: its debit shard, no order.
		if err != nil {
			return nil, err
		}
		shard = routed.shard
	}
	p, err := c.submitRun(ctx, coalesceKey{model.OperationCreateTransfers, flags, shard},
		nil, &one[0], 1, one[0].Flags&model.TransferLinked != 0, false, true)
	if err != nil {
		return nil, err
	}
	return p.wait(ctx)
}

// smallEncodeBuffers holds the buffers CreateTransfers encodes small runs into.
var smallEncodeBuffers = sync.Pool{New: func() any {
	return new([encodeSmallEvents * model.TransferSize]byte)
}}

func appendEventResults(results []model.EventResult, body []byte) []model.EventResult {
	for offset := 0; offset+model.EventResultSize <= len(body); offset += model.EventResultSize {
		var result model.EventResult
		result.Decode(body[offset:])
		results = append(results, result)
	}
	return results
}

// LookupRepeatsPerRequestMax bounds the requests a lookup sends again after cut replies
// (see lookup), per request of ids it needs at first: 8, more than the 6 a request of
// model.EventsPerRequestMax ids needs at most on a node of two shards (the JSON API's
// reckoning, netio/api readRecords: 7 submits, the first one included). On more shards
// ids found on many of them could need hundreds; past the bound the lookup fails with
// ErrLookupTooManyRecords instead, and the caller asks fewer ids at a time.
const LookupRepeatsPerRequestMax = 8

// ErrLookupTooManyRecords is returned (wrapped) by LookupAccounts and LookupTransfers when
// the ids asked have so many records on the node's shards that the lookup would ask again
// more than LookupRepeatsPerRequestMax times per request: ask fewer ids at a time. The
// records returned with it are incomplete.
var ErrLookupTooManyRecords = errors.New("client: lookup ids have too many records")

// LookupAccounts returns the accounts found, in the order of ids (missing ids are
// skipped), batching ids into requests as needed.
func (c *Client) LookupAccounts(ctx context.Context, ids []model.Uint128) (
	[]model.Account, error) {
	var accounts []model.Account
	err := c.lookup(ctx, model.OperationLookupAccounts, ids, nil, func(body []byte) {
		for offset := 0; offset+model.AccountSize <= len(body); offset +=
			model.AccountSize {
			var account model.Account
			account.Decode(body[offset:])
			accounts = append(accounts, account)
		}
	})
	return accounts, err
}

// LookupTransfers returns the transfers found, in the order of ids.
func (c *Client) LookupTransfers(ctx context.Context, ids []model.Uint128) (
	[]model.Transfer, error) {
	var transfers []model.Transfer
	err := c.lookup(ctx, model.OperationLookupTransfers, ids, nil, func(body []byte) {
		transfers = appendTransfers(transfers, body)
	})
	return transfers, err
}

// lookup asks for ids in runs of up to model.EventsPerRequestMax and calls collect with
// the records found, in the order of ids. On a node of several shards an id can have a
// record on each shard, and a reply whose records would pass ResultsMax is cut before the
// first id whose records do not all fit (PROTOCOL.md section 18, "Lookups on several
// shards"): the ids from there on are asked again, their records collected before the
// next run's. Taking a cut reply as the whole answer lost those ids' records without an
// error (TestReviewle47LookupCutReplyLosesNoID). repeatsLeft is how many requests may
// still be sent again (nil at the first call: LookupRepeatsPerRequestMax per run); past
// it the lookup fails with ErrLookupTooManyRecords (TestLookupRepeatsAreBounded).
func (c *Client) lookup(ctx context.Context, operation model.Operation,
	ids []model.Uint128, repeatsLeft *int, collect func(body []byte)) error {
	info, _ := operation.Info()
	var one [1][2]int
	runs, _ := chunks(one[:0], len(ids), func(int) bool { return false })
	if repeatsLeft == nil {
		budget := LookupRepeatsPerRequestMax * len(runs)
		repeatsLeft = &budget
	}
	var left []lookupLeft // From the first cut reply on (nil: none cut so far).
	index := 0
	err := c.batch(ctx, operation, 0, runs, func(run [2]int) []byte {
		body := make([]byte, (run[1]-run[0])*model.IDSize)
		for i := run[0]; i < run[1]; i++ {
			ids[i].PutLE(body[(i-run[0])*model.IDSize:])
		}
		return body
	}, nil, nil, func(body []byte) {
		run := ids[runs[index][0]:runs[index][1]]
		index++
		from, halves := shardmap.LookupRestart(run, body, info.ResultSize)
		if halves {
			body = nil // Asked again whole, in two requests.
		}
		switch {
		case left == nil && from == len(run):
			collect(body) // The common case: nothing to ask again, nothing kept.
			return
		case left == nil:
			collect(body)
			body = nil
		default:
			body = bytes.Clone(body) // Collected after what an earlier run left.
		}
		left = append(left, lookupLeft{records: body, ids: run[from:], halves: halves})
	})
	if err != nil {
		return err
	}
	for _, l := range left {
		if l.records != nil {
			collect(l.records)
		}
		asks := [][]model.Uint128{l.ids}
		if l.halves {
			asks = [][]model.Uint128{l.ids[:len(l.ids)/2], l.ids[len(l.ids)/2:]}
		}
		for _, ask := range asks {
			if len(ask) == 0 {
				continue
			}
			if *repeatsLeft == 0 {
				return fmt.Errorf("%w: more than %d requests asked again per request of "+
					"ids (%d ids): ask fewer ids at a time", ErrLookupTooManyRecords,
					LookupRepeatsPerRequestMax, len(ids))
			}
			*repeatsLeft--
			if err := c.lookup(ctx, operation, ask, repeatsLeft, collect); err != nil {
				return err
			}
		}
	}
	return nil
}

// lookupLeft is what a lookup run left to ask again: its records kept until the runs
// before have been completed (nil: collected already or dropped), and the ids to ask
// again (in two halves when halves).
type lookupLeft struct {
	records []byte
	ids     []model.Uint128
	halves  bool
}

func appendTransfers(transfers []model.Transfer, body []byte) []model.Transfer {
	for offset := 0; offset+model.TransferSize <= len(body); offset += model.TransferSize {
		var transfer model.Transfer
		transfer.Decode(body[offset:])
		transfers = append(transfers, transfer)
	}
	return transfers
}

// GetAccountTransfers returns the account's transfers matching filter. A request-level
// failure (account_not_found, invalid_filter, ...) is a *StatusError.
func (c *Client) GetAccountTransfers(ctx context.Context, filter model.AccountFilter) (
	[]model.Transfer, error) {
	reply, err := c.query(ctx, model.OperationGetAccountTransfers, &filter)
	if err != nil {
		return nil, err
	}
	return appendTransfers(nil, reply.Body), nil
}

// GetAccountBalances returns the account's balance history entries matching filter (the
// account needs the history flag).
func (c *Client) GetAccountBalances(ctx context.Context, filter model.AccountFilter) (
	[]model.AccountBalance, error) {
	reply, err := c.query(ctx, model.OperationGetAccountBalances, &filter)
	if err != nil {
		return nil, err
	}
	var balances []model.AccountBalance
	for offset := 0; offset+model.AccountBalanceSize <= len(reply.Body); offset +=
		model.AccountBalanceSize {
		var balance model.AccountBalance
		balance.Decode(reply.Body[offset:])
		balances = append(balances, balance)
	}
	return balances, nil
}

func (c *Client) query(ctx context.Context, operation model.Operation,
	filter *model.AccountFilter) (*Reply, error) {
	body := make([]byte, model.AccountFilterSize)
	filter.Encode(body)
	return c.Do(ctx, operation, 0, body)
}
