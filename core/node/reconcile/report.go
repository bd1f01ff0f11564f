package reconcile

// Report is a reconciliation as the operators' JSON endpoint (GET /v1/reconcile) and
// `sequent reconcile` show it: amounts as decimal strings (128-bit), sagas in flight
// with their age.
type Report struct {
	OK      bool   `json:"ok"`                // Every invariant holds.
	Problem string `json:"problem,omitempty"` // The first broken invariant.
	// Settled: every settlement pair nets to zero and no saga is in flight (a quiet
	// node; under traffic, sagas in flight are normal).
	Settled bool            `json:"settled"`
	Ledgers []LedgerReport  `json:"ledgers"`
	Pairs   []PairReport    `json:"settlement_pairs"`
	Running []RunningReport `json:"sagas_in_flight"`
}

// LedgerReport is one ledger's totals over every shard.
type LedgerReport struct {
	Ledger         uint32 `json:"ledger"`
	Accounts       uint64 `json:"accounts"`
	DebitsPosted   string `json:"debits_posted"`
	CreditsPosted  string `json:"credits_posted"`
	DebitsPending  string `json:"debits_pending"`
	CreditsPending string `json:"credits_pending"`
	Balanced       bool   `json:"balanced"`
}

// PairReport is one settlement pair's position.
type PairReport struct {
	From     uint16 `json:"debit_shard"`
	To       uint16 `json:"credit_shard"`
	Ledger   uint32 `json:"ledger"`
	Credited string `json:"credited"` // Posted into the pair's account on the debit shard.
	Pending  string `json:"pending"`  // Reserved there by sagas not finished yet.
	Debited  string `json:"debited"`  // Paid out of the pair's account on the credit shard.
	Nets     bool   `json:"nets_to_zero"`
}

// RunningReport is one saga in flight.
type RunningReport struct {
	Shard       uint16 `json:"debit_shard"`
	Sequence    uint64 `json:"sequence"`
	Transfer    string `json:"transfer_id"`
	CreditShard uint16 `json:"credit_shard"`
	StartedNs   uint64 `json:"started_ns"` // Step 1's log timestamp.
	AgeMs       int64  `json:"age_ms"`     // At the time of the report.
}

// Report turns the reconciliation into its report at time now (nanoseconds since the
// epoch, for the sagas' ages).
func (r *Reconciliation) Report(now uint64) Report {
	report := Report{OK: true, Settled: len(r.Running) == 0, Ledgers: []LedgerReport{},
		Pairs: []PairReport{}, Running: []RunningReport{}}
	if err := r.Check(false); err != nil {
		report.OK, report.Problem = false, err.Error()
	}
	for _, t := range r.Ledgers {
		report.Ledgers = append(report.Ledgers, LedgerReport{Ledger: t.Ledger,
			Accounts: t.Accounts, DebitsPosted: t.DebitsPosted.String(),
			CreditsPosted: t.CreditsPosted.String(), DebitsPending: t.DebitsPending.String(),
			CreditsPending: t.CreditsPending.String(), Balanced: t.Balanced()})
	}
	for _, p := range r.Pairs {
		nets := p.Credited == p.Debited && p.Pending.IsZero()
		report.Settled = report.Settled && nets
		report.Pairs = append(report.Pairs, PairReport{From: p.From, To: p.To, Ledger: p.Ledger,
			Credited: p.Credited.String(), Pending: p.Pending.String(),
			Debited: p.Debited.String(), Nets: nets})
	}
	for _, s := range r.Running {
		age := int64(0)
		if now > s.Started {
			age = int64((now - s.Started) / 1_000_000)
		}
		report.Running = append(report.Running, RunningReport{Shard: s.Shard,
			Sequence: s.Sequence, Transfer: s.Transfer.String(), CreditShard: s.CreditsOn,
			StartedNs: s.Started, AgeMs: age})
	}
	return report
}
