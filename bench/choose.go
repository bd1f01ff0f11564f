package bench

import (
	"math"
	"math/rand/v2"
)

// zipfTable holds the constants of YCSB's Zipfian generator (Gray et al., "Quickly
// generating billion-record synthetic databases"), computed once per run: ζ(n) costs
// O(n). It is read-only once built and shared by every connection.
type zipfTable struct {
	n     float64
	theta float64
	alpha float64 // 1 / (1 − θ).
	zetaN float64 // ζ(n, θ) = Σ 1/i^θ for i in 1..n.
	eta   float64
	half  float64 // 1 + 0.5^θ.
}

func newZipfTable(n int, theta float64) *zipfTable {
	zeta := func(count int) float64 {
		sum := 0.0
		for i := 1; i <= count; i++ {
			sum += 1 / math.Pow(float64(i), theta)
		}
		return sum
	}
	z := &zipfTable{n: float64(n), theta: theta, alpha: 1 / (1 - theta), zetaN: zeta(n),
		half: 1 + math.Pow(0.5, theta)}
	z.eta = (1 - math.Pow(2/z.n, 1-theta)) / (1 - zeta(2)/z.zetaN)
	return z
}

// draw returns a rank in [0, n): rank 0 is the most likely.
func (z *zipfTable) draw(random *rand.Rand) uint32 {
	u := random.Float64()
	uz := u * z.zetaN
	switch {
	case uz < 1:
		return 0
	case uz < z.half:
		return 1
	}
	rank := uint64(z.n * math.Pow(z.eta*u-z.eta+1, z.alpha))
	return uint32(min(rank, uint64(z.n)-1))
}

// chooser picks accounts for one connection (it owns its random source).
type chooser struct {
	choice   Choice
	accounts uint32
	random   *rand.Rand
	table    *zipfTable // ChoiceZipf with skew < 1.
	zipf     *rand.Zipf // ChoiceZipf with skew > 1.
	hot      uint32     // ChoiceHot: accounts [0, hot) are hot.
	hotShare float64    // ChoiceHot: probability of a hot pick.
	// shardOf is each account's shard (nil: shards not considered); crossShare the
	// share of pairs to put on different shards (Config.CrossShard).
	shardOf    []uint16
	crossShare float64
	pairs      uint64 // Pairs drawn, and how many of them cross shards (with shardOf).
	crossing   uint64
}

// pairAttemptsMax bounds the draws for a credit account on the wanted side of a shard
// boundary (with N shards one draw lands there with probability about 1/N or (N-1)/N);
// past it, the next account on that side in index order is taken.
const pairAttemptsMax = 64

func newChooser(config *Config, table *zipfTable, random *rand.Rand, shardOf []uint16) chooser {
	c := chooser{choice: config.Choice, accounts: uint32(config.Accounts), random: random,
		table: table, hot: uint32(config.HotAccounts), hotShare: config.HotFraction,
		shardOf: shardOf, crossShare: -1}
	if config.CrossShardSet {
		c.crossShare = config.CrossShard
	}
	if config.Choice == ChoiceZipf && config.ZipfSkew > 1 {
		c.zipf = rand.NewZipf(random, config.ZipfSkew, 1, uint64(config.Accounts-1))
	}
	return c
}

// draw returns an account index in [0, accounts).
func (c *chooser) draw() uint32 {
	switch c.choice {
	case ChoiceZipf:
		if c.zipf != nil {
			return uint32(c.zipf.Uint64())
		}
		return c.table.draw(c.random)
	case ChoiceHot:
		if c.random.Float64() < c.hotShare {
			return c.random.Uint32N(c.hot)
		}
		return c.hot + c.random.Uint32N(c.accounts-c.hot)
	}
	return c.random.Uint32N(c.accounts)
}

// pair returns two different accounts: a debit and a credit (on different shards with
// probability crossShare, when shards are considered).
func (c *chooser) pair() (debit, credit uint32) {
	debit, credit = c.draw(), c.draw()
	if credit == debit {
		credit = (credit + 1) % c.accounts
	}
	if c.shardOf == nil {
		return debit, credit
	}
	if c.crossShare >= 0 {
		cross := c.random.Float64() < c.crossShare
		for attempt := 0; c.crosses(debit, credit) != cross || credit == debit; attempt++ {
			if attempt < pairAttemptsMax {
				credit = c.draw()
				continue
			}
			credit = c.scan(debit, cross)
			break
		}
	}
	c.pairs++
	if c.crosses(debit, credit) {
		c.crossing++
	}
	return debit, credit
}

func (c *chooser) crosses(debit, credit uint32) bool { return c.shardOf[debit] != c.shardOf[credit] }

// scan returns the next account after debit, in index order, on the wanted side (the
// setup checked that one exists).
func (c *chooser) scan(debit uint32, cross bool) uint32 {
	for step := uint32(1); step < c.accounts; step++ {
		candidate := (debit + step) % c.accounts
		if c.crosses(debit, candidate) == cross {
			return candidate
		}
	}
	panic("bench: no account on the wanted side of a shard boundary")
}
