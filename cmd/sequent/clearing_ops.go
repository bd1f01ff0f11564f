package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"sequent/core/model"
	"sequent/core/node/reconcile"
	"sequent/core/shard"
	"sequent/netio/ops"
	"sequent/tools/clearing"
)

// clearingSources wires the operators' clearing endpoints: settlement netting over the
// shards' in-process read paths (each read on the shard the router would send it to), and
// the chain check over one shard's log of the node's own.
func (r *runningNode) clearingSources(sources *ops.Sources, ledgers *clearing.Ledgers) {
	sources.Settlement = func(ctx context.Context, query ops.SettlementQuery) (any, error) {
		netting, err := nettingQueryOf(query, time.Now())
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ops.ErrBadQuery, err)
		}
		reader := clearing.ShardedReader(r.node.Map(), r.shardQuery)
		report, err := clearing.Net(ctx, reader, ledgers, netting)
		return report, clearingError(err)
	}
	sources.VerifyChain = func(ctx context.Context, query ops.ChainQuery) (any, error) {
		now := time.Now()
		from, until, err := parseWindow(query.From, query.Until, now)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ops.ErrBadQuery, err)
		}
		groups := r.groups.Groups() // One per shard, each with its own log and chain.
		if query.Shard >= len(groups) {
			return nil, fmt.Errorf("%w: shard %d: the node has %d shard(s)", ops.ErrBadQuery,
				query.Shard, len(groups))
		}
		deadline, ok := ctx.Deadline()
		if !ok {
			deadline = now.Add(time.Minute)
		}
		return groups[query.Shard].Log().VerifyChain(from, until, query.AnchorOp, deadline)
	}
	sources.Reconcile = reconcileSource(r.node.Reconcile)
}

// reconcileSource is GET /v1/reconcile over reconcileBy (the node's Reconcile): the whole
// reconciliation within the request's deadline (clearingTimeout), a read not answered by
// then the endpoint's timeout (504, as the other clearing reads and /v1/depth), any other
// failure a refusal (409: not primary, fenced, stopping).
func reconcileSource(reconcileBy func(deadline time.Time) (*reconcile.Reconciliation,
	error)) func(context.Context) (any, error) {
	return func(ctx context.Context) (any, error) {
		deadline, ok := ctx.Deadline()
		if !ok {
			deadline = time.Now().Add(time.Minute)
		}
		reconciliation, err := reconcileBy(deadline)
		switch {
		case errors.Is(err, shard.ErrQueryTimeout):
			return nil, fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
		case err != nil:
			return nil, fmt.Errorf("%w: %v", ops.ErrRefused, err)
		}
		return reconciliation.Report(uint64(time.Now().UnixNano())), nil
	}
}

// shardQuery runs one read through a shard's internal read path (the console's too),
// within ctx's deadline; a read not answered by then is the endpoint's timeout (504).
func (r *runningNode) shardQuery(ctx context.Context, index int, operation model.Operation,
	body []byte) (model.Status, []byte, error) {
	timeout := time.Minute
	if deadline, ok := ctx.Deadline(); ok {
		timeout = time.Until(deadline)
	}
	status, result, err := r.groups.Shards()[index].Query(operation, body, timeout)
	if errors.Is(err, shard.ErrQueryTimeout) {
		return 0, nil, fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
	}
	return status, result, err
}

// nettingQueryOf parses the endpoint's arguments.
func nettingQueryOf(query ops.SettlementQuery, now time.Time) (clearing.NettingQuery, error) {
	netting := clearing.NettingQuery{ListMax: query.Transfers}
	for _, text := range query.Partners {
		account, err := model.ParseUint128(text)
		if err != nil {
			return netting, fmt.Errorf("partner %q: %v", text, err)
		}
		netting.Partners = append(netting.Partners, account)
	}
	from, until, err := parseWindow(query.From, query.Until, now)
	netting.Window = clearing.Window{From: from, Until: until}
	return netting, err
}

// parseWindow parses a window's bounds; empty means no bound (from 0, until 0).
func parseWindow(fromText, untilText string, now time.Time) (from, until uint64, err error) {
	if fromText != "" {
		if from, err = clearing.ParseTime(fromText, now); err != nil {
			return 0, 0, fmt.Errorf("from: %w", err)
		}
	}
	if untilText != "" {
		if until, err = clearing.ParseTime(untilText, now); err != nil {
			return 0, 0, fmt.Errorf("until: %w", err)
		}
	}
	return from, until, nil
}

// clearingError sorts a netting failure: the caller's (400), the node's role or load
// (409: not primary and fenced, busy, stopping), or the server's (500).
func clearingError(err error) error {
	var status *clearing.StatusError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, clearing.ErrNettingQuery), errors.Is(err, clearing.ErrWindowTooLarge),
		errors.As(err, &status) && status.Status == model.StatusAccountNotFound:
		return fmt.Errorf("%w: %v", ops.ErrBadQuery, err)
	case errors.As(err, &status) && (status.Status == model.StatusNotPrimary ||
		status.Status == model.StatusBusy || status.Status == model.StatusShuttingDown):
		return fmt.Errorf("%w: %v", ops.ErrRefused, err)
	}
	return err
}
