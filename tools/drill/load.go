package drill

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"sequent/core/model"
	"sequent/netio/client"
)

// batchAck is one acknowledged batch: its ids, when it was sent and when its reply arrived.
type batchAck struct {
	firstID, count     uint64
	sent, acknowledged time.Time
}

// load sends batches of transfers between the drill's accounts through one client
// session that follows the primary across failovers, and records what was acknowledged
// and when.
//
// Memory stays bounded by the run's length, not by what each transfer holds: ids are
// consecutive from firstID, every field of a transfer derives from its id (transferFor),
// and an acknowledged id costs one bit. A 100-cycle drill sends tens of millions of
// transfers; keeping each in a map took ~500 bytes apiece and exhausted memory.
type load struct {
	client       *client.Client
	accountCount uint64
	batchSize    int
	rate         float64 // Most transfers per second over all workers (0: unpaced).
	firstID      uint64  // The first id is firstID+1.
	mutex        sync.Mutex
	nextID       uint64               // Last id handed out.
	started      time.Time            // When start ran (pacing).
	acknowledged []uint64             // Bit id-firstID-1: created or exists was received.
	ackedCount   int                  // Bits set in acknowledged.
	sentCount    uint64               // Transfers actually sent (ids handed out minus paced-out ones).
	refused      map[model.Status]int // Event statuses other than created/exists.
	acks         []batchAck           // Each acknowledged batch, in completion order.
	stop         chan struct{}
	group        sync.WaitGroup
	failure      error
}

func newLoad(c *client.Client, accountCount uint64, batchSize int, firstID uint64,
	rate float64) *load {
	return &load{client: c, accountCount: accountCount, batchSize: batchSize, rate: rate,
		firstID: firstID, nextID: firstID, refused: map[model.Status]int{}}
}

// transferFor is the transfer the drill sends with the given id.
func (l *load) transferFor(id uint64) model.Transfer {
	debit := id%l.accountCount + 1
	credit := (id*7+3)%l.accountCount + 1
	if credit == debit {
		credit = debit%l.accountCount + 1
	}
	return model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(debit),
		CreditAccountID: model.U128(credit), Amount: model.U128(id%100 + 1), Ledger: 1, Code: 1}
}

// start runs workers until stopped.
func (l *load) start(workers int) {
	l.stop = make(chan struct{})
	l.started = time.Now()
	for range workers {
		l.group.Add(1)
		go func() {
			defer l.group.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				l.batch()
			}
		}()
	}
}

// halt stops the workers and waits for their last batches.
func (l *load) halt() {
	close(l.stop)
	l.group.Wait()
}

func (l *load) batch() {
	l.mutex.Lock()
	first := l.nextID + 1
	l.nextID += uint64(l.batchSize)
	var due time.Time
	if l.rate > 0 {
		due = l.started.Add(time.Duration(float64(l.nextID-l.firstID) / l.rate * 1e9))
	}
	l.mutex.Unlock()
	if wait := time.Until(due); wait > 0 {
		select {
		case <-time.After(wait):
		case <-l.stop:
			return // The ids stay unsent; the check finds them absent and unacknowledged.
		}
	}
	l.mutex.Lock()
	l.sentCount += uint64(l.batchSize)
	l.mutex.Unlock()
	transfers := make([]model.Transfer, l.batchSize)
	for i := range transfers {
		transfers[i] = l.transferFor(first + uint64(i))
	}
	// A failover takes a while: the client reconnects to the new primary and resends with
	// the same request numbers, so the batch completes once it is up.
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	sent := time.Now()
	results, err := l.client.CreateTransfers(ctx, transfers)
	l.mutex.Lock()
	defer l.mutex.Unlock()
	now := time.Now() // Under the lock, so acks stays sorted by acknowledgement time.
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			l.failure = err
		}
		return
	}
	for i, result := range results {
		switch result.Status {
		case model.StatusOK, model.StatusExists:
			l.markAcknowledged(transfers[i].ID.Lo)
		default:
			l.refused[result.Status]++
		}
	}
	l.acks = append(l.acks, batchAck{firstID: first, count: uint64(len(transfers)), sent: sent,
		acknowledged: now})
}

func (l *load) markAcknowledged(id uint64) {
	bit := id - l.firstID - 1
	for uint64(len(l.acknowledged))*64 <= bit {
		l.acknowledged = append(l.acknowledged, 0)
	}
	if l.acknowledged[bit/64]&(1<<(bit%64)) == 0 {
		l.acknowledged[bit/64] |= 1 << (bit % 64)
		l.ackedCount++
	}
}

// isAcknowledged reports whether id's transfer was acknowledged. Call with the load halted.
func (l *load) isAcknowledged(id uint64) bool {
	bit := id - l.firstID - 1
	return bit/64 < uint64(len(l.acknowledged)) && l.acknowledged[bit/64]&(1<<(bit%64)) != 0
}

// acknowledgedAt returns when id's batch was acknowledged. Call with the load halted.
func (l *load) acknowledgedAt(id uint64) time.Time {
	for _, ack := range l.acks {
		if id >= ack.firstID && id < ack.firstID+ack.count {
			return ack.acknowledged
		}
	}
	return time.Time{}
}

// firstAckAfter returns when the first batch sent after t was acknowledged: a reply
// that was already on its way from the old primary does not end the outage.
func (l *load) firstAckAfter(t time.Time) (time.Time, bool) {
	l.mutex.Lock()
	defer l.mutex.Unlock()
	index := sort.Search(len(l.acks), func(i int) bool { return l.acks[i].acknowledged.After(t) })
	for ; index < len(l.acks); index++ {
		if l.acks[index].sent.After(t) {
			return l.acks[index].acknowledged, true
		}
	}
	return time.Time{}, false
}

func (l *load) acknowledgedCount() int {
	l.mutex.Lock()
	defer l.mutex.Unlock()
	return l.ackedCount
}
