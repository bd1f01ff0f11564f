package saga

import (
	"encoding/binary"

	"sequent/core/model"
)

// Credit is step 2's request: the message from the debit shard to the credit shard, and
// what the outbox lists for every running saga.
type Credit struct {
	Transfer model.Transfer // The client's transfer; Amount: what step 1 reserved; Timestamp: step 1's.
	Sequence uint64         // The saga's number on the debit shard.
	From     uint16         // Debit shard.
	To       uint16         // Credit shard.
	Abort    bool           // Decide "refused: saga_timed_out" unless decided already.
	// PayerBound: step 1 lowered the amount to what the payer may pay (a balancing_credit
	// transfer, rules version 9: Book.SetPayerBound); step 2 refuses exceeds_credits
	// rather than credit more than Transfer.Amount. Flags bit 1; records written before
	// it have the bit clear.
	PayerBound bool
	Client     uint64 // Who sent the transfer: step 2 checks and masks on its behalf.
}

const (
	creditFlagAbort      = 1 << 0
	creditFlagPayerBound = 1 << 1
)

// Encode writes the record into b[0:160].
func (c *Credit) Encode(b []byte) {
	_ = b[model.SagaCreditSize-1]
	c.Transfer.Encode(b)
	le := binary.LittleEndian
	le.PutUint64(b[128:], c.Sequence)
	le.PutUint16(b[136:], c.From)
	le.PutUint16(b[138:], c.To)
	flags := uint16(0)
	if c.Abort {
		flags |= creditFlagAbort
	}
	if c.PayerBound {
		flags |= creditFlagPayerBound
	}
	le.PutUint16(b[140:], flags)
	clear(b[142:144])
	le.PutUint64(b[144:], c.Client)
	clear(b[152:model.SagaCreditSize])
}

// Decode reads the record from b[0:160]; ok is false when a reserved bit is set.
func (c *Credit) Decode(b []byte) (ok bool) {
	_ = b[model.SagaCreditSize-1]
	c.Transfer.Decode(b)
	le := binary.LittleEndian
	c.Sequence = le.Uint64(b[128:])
	c.From, c.To = le.Uint16(b[136:]), le.Uint16(b[138:])
	flags := le.Uint16(b[140:])
	c.Abort = flags&creditFlagAbort != 0
	c.PayerBound = flags&creditFlagPayerBound != 0
	c.Client = le.Uint64(b[144:])
	// The reserved bytes are read as words: model.AllZero's byte loop over these ten
	// bytes, and the Decision's eight, cost ~125 instructions per cross-shard transfer.
	return flags&^(creditFlagAbort|creditFlagPayerBound) == 0 && le.Uint16(b[142:]) == 0 &&
		le.Uint64(b[152:]) == 0
}

// Decision is step 3's request: the credit shard's decision, sent to the debit shard.
type Decision struct {
	Sequence  uint64        // The saga's number on the debit shard.
	From      uint16        // Credit shard (who decided).
	To        uint16        // Debit shard.
	Status    model.Status  // OK: credited; else why not.
	Amount    model.Uint128 // Credited (at most what step 1 reserved).
	Credit    model.Balance // The credit account's balances right after (OK only).
	Timestamp uint64        // When the credit shard decided.
	// Transfer is the client's id of the saga's transfer (zero in records written before
	// it was added: such a decision matches any transfer). A debit shard's saga numbers
	// are unique only within one history of its log: after a failover that lost a step 1
	// whose credit the credit shard took (async or degraded replication, each shard's
	// log trailing by its own amount), the debit shard numbers its next saga as the lost
	// one. The id tells the two apart, so no saga is finished with another's decision.
	Transfer model.Uint128
}

// Matches reports whether the decision may be the one of the saga of transfer id.
func (d *Decision) Matches(id model.Uint128) bool { return d.Transfer.IsZero() || d.Transfer == id }

// Encode writes the record into b[0:128].
func (d *Decision) Encode(b []byte) {
	_ = b[model.SagaDecisionSize-1]
	le := binary.LittleEndian
	le.PutUint64(b[0:], d.Sequence)
	le.PutUint16(b[8:], d.From)
	le.PutUint16(b[10:], d.To)
	le.PutUint32(b[12:], uint32(d.Status))
	d.Amount.PutLE(b[16:])
	d.Credit.Encode(b[32:])
	le.PutUint64(b[96:], d.Timestamp)
	d.Transfer.PutLE(b[104:])
	clear(b[120:model.SagaDecisionSize])
}

// Decode reads the record from b[0:128]; ok is false when a reserved byte is set.
func (d *Decision) Decode(b []byte) (ok bool) {
	_ = b[model.SagaDecisionSize-1]
	le := binary.LittleEndian
	d.Sequence = le.Uint64(b[0:])
	d.From, d.To = le.Uint16(b[8:]), le.Uint16(b[10:])
	d.Status = model.Status(le.Uint32(b[12:]))
	d.Amount = model.Uint128LE(b[16:])
	d.Credit.Decode(b[32:])
	d.Timestamp = le.Uint64(b[96:])
	d.Transfer = model.Uint128LE(b[104:])
	return le.Uint64(b[120:]) == 0 // Reserved: one word (see Credit.Decode).
}

// Forget lets a credit shard drop the decisions of debit shard From below Below.
type Forget struct {
	From  uint16
	Below uint64
}

// Encode writes the record into b[0:16].
func (f *Forget) Encode(b []byte) {
	_ = b[model.SagaForgetSize-1]
	binary.LittleEndian.PutUint16(b[0:], f.From)
	clear(b[2:8])
	binary.LittleEndian.PutUint64(b[8:], f.Below)
}

// Decode reads the record from b[0:16].
func (f *Forget) Decode(b []byte) (ok bool) {
	_ = b[model.SagaForgetSize-1]
	f.From, f.Below = binary.LittleEndian.Uint16(b[0:]), binary.LittleEndian.Uint64(b[8:])
	return model.AllZero(b[2:8])
}

// Phase of a saga, as saga_lookup reports it.
type Phase uint32

// Phases.
const (
	PhaseUnknown Phase = 0 // No saga started with this id on this shard.
	PhaseRunning Phase = 1 // Steps 2 or 3 are still to come.
	PhaseFinal   Phase = 2 // Posted or voided; Result is final.
)

// State is one saga_lookup result.
type State struct {
	ID     model.Uint128
	Phase  Phase
	Result model.TransferResult // Final result (PhaseFinal); zero otherwise.
}

// Encode writes the record into b[0:160].
func (s *State) Encode(b []byte) {
	_ = b[model.SagaStateSize-1]
	le := binary.LittleEndian
	s.ID.PutLE(b[0:])
	le.PutUint32(b[16:], uint32(s.Phase))
	le.PutUint32(b[20:], uint32(s.Result.Status))
	le.PutUint64(b[24:], s.Result.Timestamp)
	s.Result.DebitAccount.Encode(b[32:])
	s.Result.CreditAccount.Encode(b[96:])
}

// Decode reads the record from b[0:160].
func (s *State) Decode(b []byte) {
	_ = b[model.SagaStateSize-1]
	le := binary.LittleEndian
	s.ID = model.Uint128LE(b[0:])
	s.Phase = Phase(le.Uint32(b[16:]))
	s.Result.Status = model.Status(le.Uint32(b[20:]))
	s.Result.Timestamp = le.Uint64(b[24:])
	s.Result.DebitAccount.Decode(b[32:])
	s.Result.CreditAccount.Decode(b[96:])
}

// OutboxSummary heads a saga_outbox reply.
type OutboxSummary struct {
	Next    uint64 // The sequence number the next saga will get.
	Lowest  uint64 // The lowest sequence still running (Next when none runs).
	Running uint64 // How many sagas run.
}

// Encode writes the summary into b[0:32].
func (s *OutboxSummary) Encode(b []byte) {
	_ = b[model.SagaOutboxSummarySize-1]
	le := binary.LittleEndian
	le.PutUint64(b[0:], s.Next)
	le.PutUint64(b[8:], s.Lowest)
	le.PutUint64(b[16:], s.Running)
	clear(b[24:32])
}

// Decode reads the summary from b[0:32].
func (s *OutboxSummary) Decode(b []byte) {
	_ = b[model.SagaOutboxSummarySize-1]
	le := binary.LittleEndian
	s.Next, s.Lowest, s.Running = le.Uint64(b[0:]), le.Uint64(b[8:]), le.Uint64(b[16:])
}

// EncodeOutboxQuery writes a saga_outbox request body (sagas after a sequence number).
func EncodeOutboxQuery(b []byte, after uint64) {
	_ = b[model.SagaOutboxQuerySize-1]
	binary.LittleEndian.PutUint64(b, after)
	clear(b[8:16])
}

// MessageKind says what a Message carries.
type MessageKind uint8

// Message kinds.
const (
	MessageCredit   MessageKind = 1 // Debit shard → credit shard: apply step 2 (Credit).
	MessageDecision MessageKind = 2 // Credit shard → debit shard: apply step 3 (Decision).
	MessageFinished MessageKind = 3 // Debit shard → router: the saga's final result.
	MessageForget   MessageKind = 4 // Router → credit shard: forget decisions (Forget).
)

// Message is what applying a step implies for another shard or for the router. It is not
// state: the shard runtime releases it with the entry that produced it (only once that
// entry is durable), and the debit shard's saga table can always produce its Credit again
// (the outbox).
type Message struct {
	Kind     MessageKind
	To       uint16 // Destination shard (MessageFinished: the debit shard itself).
	Credit   Credit
	Decision Decision
	Finished Finished
	Forget   Forget
}

// Finished is a saga's final result, for the router waiting to answer its client.
type Finished struct {
	ID       model.Uint128        // The client's transfer id.
	Sequence uint64               // The saga's number on its debit shard.
	Result   model.TransferResult // Final: the status and balances the client gets.
}
