package ledger

import (
	"encoding/binary"
	"fmt"
	"io"
	"unsafe"

	"sequent/core/internal/prefetch"
	"sequent/core/model"
)

// Restore builds a ledger from a snapshot written by SnapshotView.WriteTo. The input is
// treated as untrusted: every count, index, id and status is checked, derived structures
// are rebuilt, and the balance invariants are verified, so a damaged snapshot yields an
// error wrapping ErrSnapshotInvalid, never a panic or a silently wrong ledger.
func Restore(config Config, r io.Reader) (*Ledger, error) {
	var header [snapshotHeaderSize]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrSnapshotInvalid, err)
	}
	if string(header[0:8]) != snapshotMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrSnapshotInvalid)
	}
	version := binary.LittleEndian.Uint32(header[8:])
	if version < snapshotVersionOldest || version > snapshotVersion {
		return nil, fmt.Errorf("%w: version %d, want %d to %d", ErrSnapshotInvalid, version,
			snapshotVersionOldest, snapshotVersion)
	}
	accountCount := binary.LittleEndian.Uint32(header[12:])
	transferCount := binary.LittleEndian.Uint32(header[16:])
	failedCount := binary.LittleEndian.Uint32(header[20:])
	historyCount := binary.LittleEndian.Uint32(header[24:])
	grantCount := binary.LittleEndian.Uint32(header[28:])
	// Accounts never exceed AccountsMax (every creation checks it, the system's too), so
	// more is not a state this configuration builds. Transfers may: TransfersMax refuses
	// new transfers only, and the posts and voids that must happen (a saga's, the
	// matching engine's void of a legacy hold; see postOrVoidTransfer) are stored past
	// it. So transfers are bounded by storage alone, as failed ids and history are, and
	// a ledger restored over its limit refuses new transfers as the running one did.
	c := config.withDefaults()
	if accountCount > c.AccountsMax || transferCount > recordCountMax ||
		failedCount > recordCountMax || historyCount > recordCountMax ||
		grantCount > model.GrantsMax {
		return nil, fmt.Errorf("%w: counts %d/%d/%d/%d/%d exceed limits", ErrSnapshotInvalid,
			accountCount, transferCount, failedCount, historyCount, grantCount)
	}
	// Size the tables from the counts, but only up to restoreCapacityMax, and transfers
	// only up to TransfersMax: the counts are untrusted until the records behind them
	// have been read, and a forged header must not make us allocate gigabytes (a header
	// claiming 4 M transfers made a ledger configured for 4,096 preallocate 0.6 GB; the
	// fuzzer's worker died of it under load). Beyond it, storage grows as records arrive.
	config.AccountsCapacity = max(config.AccountsCapacity, min(accountCount, restoreCapacityMax))
	config.TransfersCapacity = max(config.TransfersCapacity,
		min(transferCount, restoreCapacityMax, c.TransfersMax))
	l := New(config)
	steps := []func() error{
		func() error { return l.restoreAccounts(r, accountCount) },
		func() error { return l.restoreOwners(r, accountCount) },
		func() error { return l.restoreTransfers(r, transferCount) },
		func() error { return l.restorePending(r, transferCount) },
		func() error { return l.restoreFailed(r, failedCount) },
		func() error { return l.restoreHistory(r, historyCount) },
		func() error { return l.restoreGrants(r, grantCount) },
		func() error {
			if version < 3 {
				return nil // Before reservations: every reserved total is 0.
			}
			return l.restoreReserved(r)
		},
		l.checkInvariants,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// readRecords reads count records of size bytes, calling decode for each.
func readRecords(r io.Reader, count uint32, size int, decode func(i uint32, b []byte) error) error {
	return readBlocks(r, count, size, func(first uint32, block []byte) error {
		for j := 0; j < len(block)/size; j++ {
			if err := decode(first+uint32(j), block[j*size:(j+1)*size]); err != nil {
				return err
			}
		}
		return nil
	})
}

// readBlocks reads count records of size bytes in blocks of up to snapshotBufferBytes,
// calling decode with the index of each block's first record and the block.
func readBlocks(r io.Reader, count uint32, size int, decode func(first uint32, block []byte) error) error {
	buffer := make([]byte, snapshotBufferBytes-snapshotBufferBytes%size)
	perBlock := uint32(len(buffer) / size)
	for i := uint32(0); i < count; {
		n := min(perBlock, count-i)
		block := buffer[:int(n)*size]
		if _, err := io.ReadFull(r, block); err != nil {
			return fmt.Errorf("%w: truncated at record %d: %v", ErrSnapshotInvalid, i, err)
		}
		if err := decode(i, block); err != nil {
			return err
		}
		i += n
	}
	return nil
}

func (l *Ledger) restoreAccounts(r io.Reader, count uint32) error {
	var previous uint64
	restore := func(i uint32, b []byte) error {
		var a model.Account
		a.Decode(b)
		if a.ID.IsZero() || a.ID.IsMax() || a.Timestamp <= previous || a.Timestamp > timestampMax ||
			a.Reserved != 0 || a.Flags&^model.AccountFlagsKnown != 0 || a.Ledger == 0 {
			return fmt.Errorf("%w: account %d is not valid", ErrSnapshotInvalid, i)
		}
		previous = a.Timestamp
		hash := l.accountIndex.hash(a.ID)
		l.accountIndex.prepareInsert()
		_, position, found := l.probeAccount(hash, a.ID)
		if found {
			return fmt.Errorf("%w: account id %s twice", ErrSnapshotInvalid, a.ID)
		}
		index, record := l.pushAccount()
		// Reserved is 0, which newestTransfer reads as "none"; accountPendingZero is set
		// from the balances.
		*record = newAccountRecord(&a)
		l.accountIndex.insertAt(position, hash, index)
		l.totals.accountAdded(record)
		return nil
	}
	// The account table spreads consecutive ids over unrelated lines (idTable.hash), so
	// each insert's probe would wait for a miss of its own: the home slots of the next
	// run of accounts are prefetched while the current run is inserted.
	return readBlocks(r, count, model.AccountSize, func(first uint32, block []byte) error {
		records := len(block) / model.AccountSize
		l.prefetchAccountSlots(block, 0, min(restoreAheadAccounts, records))
		for start := 0; start < records; start += restoreAheadAccounts {
			end := min(start+restoreAheadAccounts, records)
			l.prefetchAccountSlots(block, end, min(end+restoreAheadAccounts, records))
			for j := start; j < end; j++ {
				record := block[j*model.AccountSize : (j+1)*model.AccountSize]
				if err := restore(first+uint32(j), record); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// restoreAheadAccounts is how many accounts ahead of its inserts restoreAccounts
// prefetches home slots.
const restoreAheadAccounts = 32

// prefetchAccountSlots prefetches the account table's home slots of the encoded accounts
// block[from:to] (record numbers).
func (l *Ledger) prefetchAccountSlots(block []byte, from, to int) {
	table := &l.accountIndex
	for j := from; j < to; j++ {
		var a model.Account
		a.Decode(block[j*model.AccountSize : (j+1)*model.AccountSize])
		slot := &table.slots[home(table.hash(a.ID), table.mask)]
		prefetch.Line(uintptr(unsafe.Pointer(slot)))
	}
}

// restoreOwners reads each account's owner (any client id; 0 is the system). Runs of
// accounts of one owner are common, so the previous owner's index is reused without a
// map lookup.
func (l *Ledger) restoreOwners(r io.Reader, count uint32) error {
	previousClient, previousIndex := uint64(0), uint32(0)
	return readRecords(r, count, 8, func(i uint32, b []byte) error {
		index, owner := l.own.owners.push()
		if index != i {
			return fmt.Errorf("%w: owner %d out of step", ErrSnapshotInvalid, i)
		}
		if client := binary.LittleEndian.Uint64(b); client != previousClient {
			previousClient, previousIndex = client, l.own.ownerIndex(client, true)
		}
		*owner = previousIndex
		l.own.addOwned(previousIndex, index)
		return nil
	})
}

// restoreGrants reads the grant table and puts it in force, if valid.
func (l *Ledger) restoreGrants(r io.Reader, count uint32) error {
	grants := make([]model.Grant, 0, count)
	err := readRecords(r, count, model.GrantSize, func(i uint32, b []byte) error {
		var g model.Grant
		if !g.Decode(b) {
			return fmt.Errorf("%w: grant %d: reserved bytes", ErrSnapshotInvalid, i)
		}
		if i > 0 && g.Client < grants[i-1].Client {
			return fmt.Errorf("%w: grant %d out of order", ErrSnapshotInvalid, i)
		}
		grants = append(grants, g)
		return nil
	})
	if err != nil {
		return err
	}
	if err := l.SetGrants(grants); err != nil {
		return fmt.Errorf("%w: %v", ErrSnapshotInvalid, err)
	}
	return nil
}

// restoreTransfers reads the transfers in blocks of prefetchBlockEvents and resolves each
// block's account ids with the same prefetch pipeline as CreateTransfers: looking them up
// one by one left the core waiting on two cache misses per transfer (most of restart).
func (l *Ledger) restoreTransfers(r io.Reader, count uint32) error {
	var previous uint64
	events := make([]model.Transfer, prefetchBlockEvents)
	s := &l.batch
	return readBlocks(r, count, model.TransferSize, func(first uint32, block []byte) error {
		records := len(block) / model.TransferSize
		for start := 0; start < records; start += prefetchBlockEvents {
			n := min(prefetchBlockEvents, records-start)
			for j := range n {
				offset := (start + j) * model.TransferSize
				events[j].Decode(block[offset : offset+model.TransferSize])
			}
			l.resolveTransfers(events, 0, n)
			for j := range n {
				t := &events[j]
				debitIndex, creditIndex := s.debitIndex[j], s.creditIndex[j]
				if t.ID.IsZero() || t.ID.IsMax() || t.Timestamp <= previous ||
					t.Timestamp > timestampMax || debitIndex == indexNone ||
					creditIndex == indexNone || debitIndex == creditIndex ||
					t.Flags&^model.TransferFlagsStored != 0 {
					return fmt.Errorf("%w: transfer %d is not valid", ErrSnapshotInvalid,
						first+uint32(start+j))
				}
				previous = t.Timestamp
				l.transferIndex.prepareInsert()
				hash := s.transferHash[j]
				_, position, found := l.probeTransfer(hash, t.ID)
				if found {
					return fmt.Errorf("%w: transfer id %s twice", ErrSnapshotInvalid, t.ID)
				}
				_, record := l.appendTransfer(hash, position,
					l.accounts.at(debitIndex), l.accounts.at(creditIndex))
				*record = *t
			}
		}
		return nil
	})
}

func (l *Ledger) restorePending(r io.Reader, count uint32) error {
	return readRecords(r, count, 1, func(i uint32, b []byte) error {
		status := pendingStatus(b[0])
		isPending := l.transfers.at(i).Flags&model.TransferPending != 0
		if status > pendingExpired || (status == pendingNone) == isPending {
			return fmt.Errorf("%w: pending status %d of transfer %d", ErrSnapshotInvalid, status, i)
		}
		*l.pending.at(i) = status
		t := l.transfers.at(i)
		if status == pendingActive && t.Timeout != 0 {
			if uint64(t.Timeout)*nanosecondsPerSecond > timestampMax-t.Timestamp {
				return fmt.Errorf("%w: timeout of transfer %d overflows", ErrSnapshotInvalid, i)
			}
			l.expiry.push(expiryItem{deadline: pendingDeadline(t), transfer: i})
		}
		return nil
	})
}

func (l *Ledger) restoreFailed(r io.Reader, count uint32) error {
	return readRecords(r, count, model.IDSize, func(i uint32, b []byte) error {
		id := model.Uint128LE(b)
		if id.IsZero() || id.IsMax() || l.hasFailed(id) {
			return fmt.Errorf("%w: failed id %d", ErrSnapshotInvalid, i)
		}
		if _, found := l.findTransfer(id); found {
			return fmt.Errorf("%w: failed id %s is also a transfer", ErrSnapshotInvalid, id)
		}
		l.rememberFailed(id)
		return nil
	})
}

func (l *Ledger) restoreHistory(r io.Reader, count uint32) error {
	return readRecords(r, count, historyRecordSize, func(i uint32, b []byte) error {
		var balance model.Balance
		balance.Decode(b[0:64])
		timestamp := binary.LittleEndian.Uint64(b[64:])
		account := binary.LittleEndian.Uint32(b[72:])
		transfer := binary.LittleEndian.Uint32(b[76:])
		if account >= l.accounts.count || transfer >= l.transfers.count ||
			l.accounts.at(account).Flags&model.AccountHistory == 0 ||
			l.transfers.at(transfer).Timestamp != timestamp {
			return fmt.Errorf("%w: history record %d", ErrSnapshotInvalid, i)
		}
		index, record := l.history.push()
		record.balance = model.AccountBalance{Balance: balance, Timestamp: timestamp}
		record.account, record.transfer, record.previous = account, transfer, indexNone
		if last, ok := l.historyLast[account]; ok {
			record.previous = last
		}
		l.historyLast[account] = index
		return nil
	})
}

// checkInvariants verifies, per ledger, that debits equal credits (posted and pending), and
// that every account respects its balance flags.
func (l *Ledger) checkInvariants() error {
	if err := CheckInvariants(l.accountsInOrder()); err != nil {
		return fmt.Errorf("%w: %v", ErrSnapshotInvalid, err)
	}
	if err := l.CheckReservations(); err != nil {
		return fmt.Errorf("%w: %v", ErrSnapshotInvalid, err)
	}
	return nil
}

// restoreReserved reads the reserved section (version 3): accounts by strictly
// increasing index, each with a total that is not zero. CheckReservations then checks
// the totals against the balances.
func (l *Ledger) restoreReserved(r io.Reader) error {
	var countBytes [4]byte
	if _, err := io.ReadFull(r, countBytes[:]); err != nil {
		return fmt.Errorf("%w: reserved count: %v", ErrSnapshotInvalid, err)
	}
	count := binary.LittleEndian.Uint32(countBytes[:])
	if count > l.accounts.count {
		return fmt.Errorf("%w: %d reserved totals for %d accounts", ErrSnapshotInvalid, count,
			l.accounts.count)
	}
	next := uint32(0)
	return readRecords(r, count, reservedRecordSize, func(i uint32, b []byte) error {
		index := binary.LittleEndian.Uint32(b)
		reserved := model.Uint128LE(b[4:reservedRecordSize])
		if index < next || index >= l.accounts.count || reserved.IsZero() {
			return fmt.Errorf("%w: reserved total %d is not valid", ErrSnapshotInvalid, i)
		}
		next = index + 1
		l.reserved.set(index, reserved)
		return nil
	})
}

// accountsInOrder iterates the accounts in creation order.
func (l *Ledger) accountsInOrder() func(yield func(*model.Account) bool) {
	return func(yield func(*model.Account) bool) {
		for i := uint32(0); i < l.accounts.count; i++ {
			account := exportAccount(l.accounts.at(i))
			if !yield(&account) {
				return
			}
		}
	}
}

// Accounts iterates copies of every account in creation order (for checks and tools).
func (l *Ledger) Accounts() func(yield func(*model.Account) bool) {
	return l.accountsInOrder()
}
