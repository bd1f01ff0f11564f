package bench

import (
	"context"
	"errors"
	"fmt"

	"sequent/core/model"
	"sequent/netio/client"
)

// setupChunkEvents bounds the records built at once during setup and read-back: eight
// full requests (pipelined), 8 MiB of records.
const setupChunkEvents = 8 * EventsMax

// accountSet is a group of the bench's accounts with ids {hi, first+index}.
type accountSet struct {
	ledger   uint32
	hi       uint64
	first    uint64
	count    int
	flags    uint16
	expected bool // The transfer workloads' accounts: movement checked per account.
	holds    bool // Traders: no hold may remain after the final mass cancel.
}

func (s *accountSet) id(index int) model.Uint128 {
	return model.Uint128{Hi: s.hi, Lo: s.first + uint64(index)}
}

// accountSets lists every account the run uses.
func (r *run) accountSets() []accountSet {
	ids, accounts := &r.ids, r.config.Accounts
	var sets []accountSet
	if r.config.Mix.hasTransfers() {
		sets = append(sets, accountSet{ledger: transferLedger, hi: ids.accounts,
			count: accounts, expected: true})
	}
	if r.config.Mix.Has(KindOrders) {
		limit := model.AccountDebitsMustNotExceedCredits
		sets = append(sets,
			accountSet{ledger: orderBaseLedger, hi: ids.traderBase, count: accounts,
				flags: limit, holds: true},
			accountSet{ledger: orderQuoteLedger, hi: ids.traderQuote, count: accounts,
				flags: limit, holds: true},
			accountSet{ledger: orderBaseLedger, hi: ids.issuers, first: orderBaseLedger,
				count: 1},
			accountSet{ledger: orderQuoteLedger, hi: ids.issuers, first: orderQuoteLedger,
				count: 1})
	}
	return sets
}

// setup creates the accounts (and for orders the instrument and the traders' funds),
// each answering created or exists, and returns every account's balances before the load.
func (r *run) setup(ctx context.Context, c *client.Client) ([][]model.Balance, error) {
	if err := r.learnShards(ctx, c); err != nil {
		return nil, err
	}
	sets := r.accountSets()
	for i := range sets {
		if err := createAccounts(ctx, c, &sets[i]); err != nil {
			return nil, err
		}
	}
	if r.config.Mix.Has(KindOrders) {
		if err := r.createInstrument(ctx, c); err != nil {
			return nil, err
		}
		if err := r.fundTraders(ctx, c); err != nil {
			return nil, err
		}
	}
	before := make([][]model.Balance, len(sets))
	for i := range sets {
		balances := make([]model.Balance, sets[i].count)
		err := readAccounts(ctx, c, &sets[i], func(index int, account *model.Account) {
			balances[index] = account.Balance()
		})
		if err != nil {
			return nil, err
		}
		before[i] = balances
	}
	return before, nil
}

func createAccounts(ctx context.Context, c *client.Client, set *accountSet) error {
	accounts := make([]model.Account, 0, min(set.count, setupChunkEvents))
	for start := 0; start < set.count; start += setupChunkEvents {
		accounts = accounts[:0]
		for index := start; index < min(start+setupChunkEvents, set.count); index++ {
			accounts = append(accounts, model.Account{ID: set.id(index), Ledger: set.ledger,
				Code: accountCode, Flags: set.flags})
		}
		results, err := c.CreateAccounts(ctx, accounts)
		if err != nil {
			return fmt.Errorf("create accounts: %w", err)
		}
		for i, result := range results {
			if result.Status != model.StatusOK && result.Status != model.StatusExists {
				return fmt.Errorf("create account %s: %s", accounts[i].ID, result.Status)
			}
		}
	}
	return nil
}

func (r *run) createInstrument(ctx context.Context, c *client.Client) error {
	instrument := model.Instrument{ID: r.ids.instrument, BaseLedger: orderBaseLedger,
		QuoteLedger: orderQuoteLedger, TickSize: 1, LotSize: 1, QuantityMin: 1,
		QuantityMax: orderQuantityMax}
	results, err := c.CreateInstruments(ctx, []model.Instrument{instrument})
	if err != nil {
		return fmt.Errorf("create instrument %d: %w", instrument.ID, err)
	}
	if status := results[0].Status; status != model.StatusOK && status != model.StatusExists {
		return fmt.Errorf("create instrument %d: %s", instrument.ID, status)
	}
	return nil
}

// fundTraders moves each trader's funds from the issuers, once per seed: the funding
// transfers' ids derive from the seed, so a rerun answers exists.
func (r *run) fundTraders(ctx context.Context, c *client.Client) error {
	tradersPerChunk := setupChunkEvents / 2
	transfers := make([]model.Transfer, 0, min(2*r.config.Accounts, setupChunkEvents))
	for start := 0; start < r.config.Accounts; start += tradersPerChunk {
		transfers = transfers[:0]
		for trader := start; trader < min(start+tradersPerChunk, r.config.Accounts); trader++ {
			transfers = append(transfers,
				r.funding(uint32(trader), orderBaseLedger, fundsBase),
				r.funding(uint32(trader), orderQuoteLedger, fundsQuote))
		}
		results, err := c.CreateTransfers(ctx, transfers)
		if err != nil {
			return fmt.Errorf("fund traders: %w", err)
		}
		for i, result := range results {
			if result.Status != model.StatusOK && result.Status != model.StatusExists {
				return fmt.Errorf("fund trader (transfer %s): %s", transfers[i].ID,
					result.Status)
			}
		}
	}
	return nil
}

// funding is the transfer that funds trader on ledger from its issuer.
func (r *run) funding(trader uint32, ledger uint32, amount uint64) model.Transfer {
	ids := &r.ids
	credit := ids.traderBaseAccount(trader)
	if ledger == orderQuoteLedger {
		credit = ids.traderQuoteAccount(trader)
	}
	return model.Transfer{ID: ids.fundingTransfer(trader, ledger),
		DebitAccountID: ids.issuer(ledger), CreditAccountID: credit,
		Amount: model.U128(amount), Ledger: ledger, Code: transferCode}
}

// readAccounts looks up every account of the set and calls found with each; a missing
// account is an error.
func readAccounts(ctx context.Context, c *client.Client, set *accountSet,
	found func(index int, account *model.Account)) error {
	ids := make([]model.Uint128, 0, min(set.count, setupChunkEvents))
	for start := 0; start < set.count; start += setupChunkEvents {
		ids = ids[:0]
		for index := start; index < min(start+setupChunkEvents, set.count); index++ {
			ids = append(ids, set.id(index))
		}
		accounts, err := c.LookupAccounts(ctx, ids)
		if err != nil {
			return fmt.Errorf("lookup accounts: %w", err)
		}
		if len(accounts) != len(ids) {
			return fmt.Errorf("lookup accounts: %d of %d found", len(accounts), len(ids))
		}
		for i := range accounts {
			if accounts[i].ID != ids[i] {
				return fmt.Errorf("lookup accounts: account %s answered for %s",
					accounts[i].ID, ids[i])
			}
			found(start+i, &accounts[i])
		}
	}
	return nil
}

// learnShards asks the server's shard map and places the transfer accounts on it. A
// server that does not answer get_shard_map (an older one) counts as one shard, unless a
// cross-shard share was asked for.
func (r *run) learnShards(ctx context.Context, c *client.Client) error {
	r.shards = 1
	placement, err := c.ShardMap(ctx)
	switch {
	case err != nil && r.config.CrossShardSet:
		return fmt.Errorf("a cross-shard share needs the server's shard map: %w", err)
	case err != nil:
		return nil
	}
	r.shards = int(placement.Shards)
	if r.shards == 1 {
		if r.config.CrossShardSet && r.config.CrossShard > 0 {
			return errors.New("a cross-shard share above 0 needs a server of several shards")
		}
		return nil
	}
	r.shardOf = make([]uint16, r.config.Accounts)
	seen := map[uint16]bool{}
	for i := range r.shardOf {
		r.shardOf[i] = placement.AccountShard(r.ids.account(uint32(i)), transferLedger)
		seen[r.shardOf[i]] = true
	}
	if r.config.CrossShardSet && r.config.CrossShard > 0 && len(seen) < 2 {
		return fmt.Errorf("the %d accounts all live on one shard: no transfer can cross",
			r.config.Accounts)
	}
	if r.config.CrossShardSet && r.config.CrossShard < 1 {
		// Every shard holding accounts must pair within itself: a shard with one account
		// cannot, so the share would be off. Ask for more accounts then.
		counts := map[uint16]int{}
		for _, shard := range r.shardOf {
			counts[shard]++
		}
		for shard, count := range counts {
			if count < 2 {
				return fmt.Errorf("shard %d holds %d of the accounts: too few for "+
					"shard-local transfers (give more --accounts)", shard, count)
			}
		}
	}
	return nil
}
