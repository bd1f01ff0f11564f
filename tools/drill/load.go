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

// batchAck is when an acknowledged batch was sent and when its reply arrived.
type batchAck struct {
	sent, acknowledged time.Time
}

// load sends batches of transfers between the drill's accounts through one client
// session that follows the primary across failovers, and records what was acknowledged
// and when.
type load struct {
	client       *client.Client
	accountCount uint64
	batchSize    int
	mutex        sync.Mutex
	nextID       uint64
	sent         map[uint64]model.Transfer // Every transfer sent, by id.
	acknowledged map[uint64]time.Time      // Id → when its reply arrived (created or exists).
	refused      map[model.Status]int      // Event statuses other than created/exists.
	acks         []batchAck                // Each acknowledged batch, in completion order.
	stop         chan struct{}
	group        sync.WaitGroup
	failure      error
}

func newLoad(c *client.Client, accountCount uint64, batchSize int, firstID uint64) *load {
	return &load{client: c, accountCount: accountCount, batchSize: batchSize, nextID: firstID,
		sent: map[uint64]model.Transfer{}, acknowledged: map[uint64]time.Time{},
		refused: map[model.Status]int{}}
}

// start runs workers until stopped.
func (l *load) start(workers int) {
	l.stop = make(chan struct{})
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
	transfers := make([]model.Transfer, l.batchSize)
	for i := range transfers {
		l.nextID++
		debit := l.nextID%l.accountCount + 1
		credit := (l.nextID*7+3)%l.accountCount + 1
		if credit == debit {
			credit = debit%l.accountCount + 1
		}
		transfers[i] = model.Transfer{ID: model.U128(l.nextID), DebitAccountID: model.U128(debit),
			CreditAccountID: model.U128(credit), Amount: model.U128(l.nextID%100 + 1),
			Ledger: 1, Code: 1}
		l.sent[l.nextID] = transfers[i]
	}
	l.mutex.Unlock()
	// A failover takes a while: the client reconnects to the new primary and resends with
	// the same request numbers, so the batch completes once it is up.
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	sent := time.Now()
	results, err := l.client.CreateTransfers(ctx, transfers)
	l.mutex.Lock()
	defer l.mutex.Unlock()
	now := time.Now() // Under the lock, so ackTimes stays sorted.
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			l.failure = err
		}
		return
	}
	for i, result := range results {
		switch result.Status {
		case model.StatusOK, model.StatusExists:
			l.acknowledged[transfers[i].ID.Lo] = now
		default:
			l.refused[result.Status]++
		}
	}
	l.acks = append(l.acks, batchAck{sent: sent, acknowledged: now})
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
	return len(l.acknowledged)
}
